import Dispatch
import Foundation
import Testing
@testable import CheckpointStore
import Resumable

/// A tensor held by reference, so a test can change it after handing it over.
private final class Weights: @unchecked Sendable {
    var values: [Float]
    init(count: Int, seed: Float) { values = (0..<count).map { Float($0) * 0.5 + seed } }
    var source: TensorSource {
        TensorSource(name: "w", dtype: .f32, shape: [values.count]) { body in
            try self.values.withUnsafeBytes { raw in try body(raw) }
        }
    }
}

/// A gate that holds a background save until the test opens it.
private final class Gate: @unchecked Sendable {
    private let opened = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var entered = 0
    private var running = 0
    private(set) var maxRunning = 0
    let reached = DispatchSemaphore(value: 0)

    func pass(_ step: Int64) {
        lock.lock()
        entered += 1
        running += 1
        maxRunning = max(maxRunning, running)
        lock.unlock()
        reached.signal()
        opened.wait()
        lock.lock()
        running -= 1
        lock.unlock()
    }

    func open(times: Int = 1) { for _ in 0..<times { opened.signal() } }
}

@Suite("AsyncCheckpointWriter")
struct AsyncCheckpointWriterTests {
    private func makeStore() throws -> CheckpointStore {
        try CheckpointStore(directory: TestSupport.temporaryDirectory("async"), access: .write, create: true)
    }

    @Test("the checkpoint holds the tensors as they were during save, though the caller changes them right after")
    func snapshotIsolation() throws {
        let store = try makeStore()
        let writer = AsyncCheckpointWriter(store: store)
        let gate = Gate()
        writer.beforeBackgroundWrite = { gate.pass($0) }
        let weights = Weights(count: 3 << 20, seed: 1)  // 12 MiB: copied in pieces on every core
        let expected = weights.values
        try writer.save(step: 7, tensors: [weights.source], files: [("state.json", Array("{\"epoch\":2}".utf8))]) {
            $0.epoch = 2
            $0.metrics = ["loss": 0.25]
        }
        gate.reached.wait()
        // Training goes on: every value changes while the save is still in flight.
        for i in weights.values.indices { weights.values[i] = -1 }
        gate.open()
        let checkpoint = try #require(try writer.flush())
        #expect(checkpoint.step == 7)
        #expect(checkpoint.manifest.epoch == 2)
        #expect(checkpoint.manifest.metrics["loss"] == 0.25)
        let loaded: [Float] = try checkpoint.tensors().array("w")
        #expect(loaded == expected)
        #expect(try FileSystem.readFile(checkpoint.path(of: "state.json")) == Array("{\"epoch\":2}".utf8))
        #expect(try store.verify(checkpoint).isIntact)
        #expect(try store.latest()?.checkpoint.step == 7)
    }

    @Test("with .skip, a save that comes while one is in flight is skipped")
    func skipWhenBusy() throws {
        let store = try makeStore()
        let writer = AsyncCheckpointWriter(store: store, whenBusy: .skip)
        let gate = Gate()
        writer.beforeBackgroundWrite = { gate.pass($0) }
        let weights = Weights(count: 1024, seed: 0)
        #expect(try writer.save(step: 1, tensors: [weights.source]))
        gate.reached.wait()
        #expect(writer.isSaving)
        #expect(try writer.save(step: 2, tensors: [weights.source]) == false)
        gate.open()
        try writer.flush()
        #expect(!writer.isSaving)
        #expect(try store.committedSteps() == [1])
        // Once the first is committed, the next save goes through.
        #expect(try writer.save(step: 3, tensors: [weights.source]))
        gate.reached.wait()
        gate.open()
        try writer.flush()
        #expect(try store.committedSteps() == [1, 3])
        #expect(gate.maxRunning == 1)
    }

    @Test("with .wait, saves queue behind each other: never two in flight, all committed in order")
    func waitWhenBusy() throws {
        let store = try makeStore()
        let writer = AsyncCheckpointWriter(store: store)
        let gate = Gate()
        gate.open(times: 5)  // let every save through; the gate still counts concurrency
        writer.beforeBackgroundWrite = { gate.pass($0) }
        let weights = Weights(count: 1 << 16, seed: 0)
        var expected: [Int64: [Float]] = [:]
        for step in Int64(1)...5 {
            for i in weights.values.indices { weights.values[i] = Float(step) + Float(i) }
            expected[step] = weights.values
            #expect(try writer.save(step: step, tensors: [weights.source]))
        }
        #expect(try writer.flush()?.step == 5)
        #expect(gate.maxRunning == 1)
        #expect(try store.committedSteps() == [1, 2, 3, 4, 5])
        for step in Int64(1)...5 {
            let values: [Float] = try store.checkpoint(step: step).tensors().array("w")
            #expect(values == expected[step])
        }
    }

    @Test("a background failure leaves no checkpoint and is thrown by the next call, once")
    func errorSurfacesOnNextCall() throws {
        let store = try makeStore()
        let writer = AsyncCheckpointWriter(store: store)
        let gate = Gate()
        writer.beforeBackgroundWrite = { gate.pass($0) }
        let weights = Weights(count: 1024, seed: 0)
        try writer.save(step: 4, tensors: [weights.source])
        gate.reached.wait()
        // Someone commits step 4 behind the writer's back: the background commit must refuse to replace it.
        try FileSystem.createDirectory(store.directory(of: 4))
        gate.open()
        #expect {
            try writer.save(step: 5, tensors: [weights.source])
        } throws: { ($0 as? ResumableError)?.code == .conflict }
        #expect(try store.committedSteps() == [4])  // only the directory made by hand
        #expect(try FileSystem.contents(of: FilePath.join(store.checkpointsDirectory, ".staging")).isEmpty)
        // The error was reported once; the writer works again.
        #expect(try writer.flush() == nil)
        gate.open()
        try writer.save(step: 5, tensors: [weights.source])
        #expect(try writer.flush()?.step == 5)
    }

    @Test("buffers prepared ahead are used by the first save, which holds the right values")
    func preparedBuffers() throws {
        let store = try makeStore()
        let writer = AsyncCheckpointWriter(store: store)
        let weights = Weights(count: 1 << 20, seed: 3)
        writer.prepareBuffers(for: [weights.source])
        let expected = weights.values
        try writer.save(step: 1, tensors: [weights.source])
        for i in weights.values.indices { weights.values[i] = 0 }
        let checkpoint = try #require(try writer.flush())
        let loaded: [Float] = try checkpoint.tensors().array("w")
        #expect(loaded == expected)
    }

    @Test("a tensor whose bytes do not match its shape is refused before anything is written")
    func sizeMismatch() throws {
        let store = try makeStore()
        let writer = AsyncCheckpointWriter(store: store)
        let bad = TensorSource(name: "w", dtype: .f32, shape: [10], values: [Float](repeating: 0, count: 9))
        #expect {
            try writer.save(step: 1, tensors: [bad])
        } throws: { ($0 as? ResumableError)?.code == .usage }
        #expect(!writer.isSaving)
        #expect(try store.committedSteps().isEmpty)
        #expect(try FileSystem.contents(of: FilePath.join(store.checkpointsDirectory, ".staging")).isEmpty)
    }

    @Test("several tensor files are snapshotted together and written in order, each with its own metadata")
    func severalTensorFiles() throws {
        let store = try makeStore()
        let writer = AsyncCheckpointWriter(store: store)
        let gate = Gate()
        writer.beforeBackgroundWrite = { gate.pass($0) }
        let model = Weights(count: 1000, seed: 1)
        let moments = Weights(count: 10, seed: 2)
        let (expectedModel, expectedMoments) = (model.values, moments.values)
        try writer.save(
            step: 3,
            tensorFiles: [
                (name: "model.safetensors", tensors: [model.source], metadata: ["kind": "model"]),
                (name: "optimizer.safetensors", tensors: [moments.source], metadata: [:]),
            ], files: [("state.json", Array("{}".utf8))])
        gate.reached.wait()
        for i in model.values.indices { model.values[i] = 0 }
        for i in moments.values.indices { moments.values[i] = 0 }
        gate.open()
        let checkpoint = try #require(try writer.flush())
        #expect(checkpoint.manifest.files.map(\.name) == ["model.safetensors", "optimizer.safetensors", "state.json"])
        let modelFile = try checkpoint.tensors(named: "model.safetensors")
        #expect(try modelFile.array("w", as: Float.self) == expectedModel)
        #expect(modelFile.metadata == ["kind": "model"])
        #expect(try checkpoint.tensors(named: "optimizer.safetensors").array("w", as: Float.self) == expectedMoments)
        #expect(try store.verify(checkpoint).isIntact)
    }

    @Test("the background write runs below the training's priority by default, at it with .normal")
    func backgroundPriority() throws {
        #if os(Linux)
        // On Linux, PRIO_PROCESS with 0 names the calling thread.
        let which = __priority_which_t(PRIO_PROCESS.rawValue)
        let base = getpriority(which, 0)
        for (priority, expected) in [(AsyncCheckpointWriter.Priority.low, min(19, base + 10)), (.normal, base)] {
            let store = try makeStore()
            let writer = AsyncCheckpointWriter(store: store, priority: priority)
            let seen = NSLock()
            nonisolated(unsafe) var nice: Int32 = -100
            writer.beforeBackgroundCommit = { _ in
                errno = 0
                let value = getpriority(which, 0)
                seen.withLock { nice = errno == 0 ? value : -100 }
            }
            try writer.save(step: 1, tensors: [Weights(count: 1000, seed: 2).source])
            let checkpoint = try #require(try writer.flush())
            #expect(try store.verify(checkpoint).isIntact)
            #expect(seen.withLock { nice } == expected, "\(priority)")
        }
        #endif
    }
}
