#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Foundation
import Testing
@testable import CheckpointStore
import Resumable

/// A gate that holds a background save (before it copies what is left of an
/// arena snapshot) until the test opens it.
private final class Hold: @unchecked Sendable {
    let reached = DispatchSemaphore(value: 0)
    private let opened = DispatchSemaphore(value: 0)
    func pass() {
        reached.signal()
        opened.wait()
    }
    func open() { opened.signal() }
}

@Suite("TensorArena: copy-on-write snapshots")
struct TensorArenaTests {
    private func makeStore() throws -> CheckpointStore {
        try CheckpointStore(directory: TestSupport.temporaryDirectory("arena"), access: .write, create: true)
    }

    @Test("arena tensors rewritten from two threads while the save is in flight: the checkpoint holds them as they were")
    func snapshotIsolation() throws {
        let arena = try TensorArena(capacity: 24 << 20)
        let a = try arena.allocate(Float.self, count: (5 << 20) / 4 + 3)  // crosses 2 MiB pieces, odd length
        let b = try arena.allocate(Double.self, count: (7 << 20) / 8)
        let c = try arena.allocate(UInt8.self, count: 100)
        for i in a.indices { a[i] = Float(i) * 0.5 }
        for i in b.indices { b[i] = Double(i) - 3 }
        for i in c.indices { c[i] = UInt8(i) }
        var array = (0..<1000).map { Int32($0) }  // not in an arena: copied at once
        let (expectedA, expectedB, expectedC, expectedArray) = (Array(a), Array(b), Array(c), array)

        let store = try makeStore()
        let writer = AsyncCheckpointWriter(store: store)
        let hold = Hold()
        writer.beforeBackgroundWrite = { _ in hold.pass() }
        let faultsBefore = TensorArena.faultStatistics.writes
        try writer.save(step: 1, tensors: [
            TensorSource(name: "a", dtype: .f32, shape: [a.count], bytes: UnsafeRawBufferPointer(a)),
            TensorSource(name: "b", dtype: .f64, shape: [b.count], bytes: UnsafeRawBufferPointer(b)),
            TensorSource(name: "c", dtype: .u8, shape: [c.count], bytes: UnsafeRawBufferPointer(c)),
            TensorSource(name: "array", dtype: .i32, shape: [array.count], values: array),
        ])
        hold.reached.wait()
        // Training goes on: two threads change every value before the background copy starts.
        nonisolated(unsafe) let (ua, ub, uc) = (a, b, c)
        DispatchQueue.concurrentPerform(iterations: 2) { half in
            for i in stride(from: half, to: ua.count, by: 2) { ua[i] = -1 }
            for i in stride(from: half, to: ub.count, by: 2) { ub[i] = .nan }
            if half == 0 { uc.update(repeating: 0xFF) }
        }
        array = array.map { -$0 }
        let faults = TensorArena.faultStatistics.writes - faultsBefore
        hold.open()
        let checkpoint = try #require(try writer.flush())
        let file = try checkpoint.tensors()
        #expect(try file.array("a", as: Float.self) == expectedA)
        #expect(try file.array("b", as: Double.self).elementsEqual(expectedB) { $0.bitPattern == $1.bitPattern })
        #expect(try file.array("c", as: UInt8.self) == expectedC)
        #expect(try file.array("array", as: Int32.self) == expectedArray)
        #expect(try store.verify(checkpoint).isIntact)
        // The writes went through, each 2 MiB piece after one pause to copy it (12+ MiB: at least 6 pieces).
        #expect(a.allSatisfy { $0 == -1 } && b.allSatisfy(\.isNaN) && c.allSatisfy { $0 == 0xFF })
        #expect(faults >= 6, "writes that paused for a copy: \(faults)")
    }

    @Test("saves one after another re-protect the arena: each checkpoint holds its own step's values")
    func repeatedSnapshots() throws {
        let arena = try TensorArena(capacity: 8 << 20)
        let w = try arena.allocate(Float.self, count: (6 << 20) / 4)
        let store = try makeStore()
        let writer = AsyncCheckpointWriter(store: store)
        let source = TensorSource(name: "w", dtype: .f32, shape: [w.count], bytes: UnsafeRawBufferPointer(w))
        for step in 1...5 {
            w.update(repeating: Float(step))
            try writer.save(step: Int64(step), tensors: [source])
            w.update(repeating: -Float(step))  // at once, racing the background copy
        }
        try writer.flush()
        for step in 1...5 {
            let values: [Float] = try store.checkpoint(step: Int64(step)).tensors().array("w")
            #expect(values.allSatisfy { $0 == Float(step) }, "step \(step)")
        }
        #expect(w.allSatisfy { $0 == -5 })
    }

    @Test("a tensor in the middle of an arena is snapshotted from the start of its 2 MiB piece, nothing else")
    func partialSpan() throws {
        let arena = try TensorArena(capacity: 16 << 20)
        let before = try arena.allocate(byteCount: 3 << 20)
        let w = try arena.allocate(UInt32.self, count: 300_000)
        for i in w.indices { w[i] = UInt32(i) }
        let buffer = SnapshotBuffer()
        let snapshot = try buffer.snapshot([
            TensorSource(name: "w", dtype: .u32, shape: [w.count], bytes: UnsafeRawBufferPointer(w))])
        // From the piece holding the tensor's start (2 MiB) to its end, not the arena's unused rest.
        #expect(buffer.capacity >= (3 << 20) + 1_200_000 - (2 << 20))
        #expect(buffer.capacity <= 4 << 20)
        before.storeBytes(of: 7, as: UInt8.self)  // the first piece is not snapshotted: no pause
        w.update(repeating: 9)
        try snapshot.complete()
        let copy = snapshot.tensors[0]
        var ok = false
        try copy.withBytes { raw in ok = raw.bindMemory(to: UInt32.self).elementsEqual(0..<300_000) }
        #expect(ok)
    }

    @Test("an arena refuses what it cannot hold, with a message that says so")
    func capacityErrors() throws {
        #expect(throws: ResumableError.self) { try TensorArena(capacity: 0) }
        let arena = try TensorArena(capacity: 1)
        #expect(arena.capacity == TensorArena.chunkSize)
        #expect(throws: ResumableError.self) { try arena.allocate(byteCount: 8, alignment: 48) }
        _ = try arena.allocate(byteCount: arena.capacity - 10)
        do {
            _ = try arena.allocate(Double.self, count: 2)
            Issue.record("an allocation beyond the capacity succeeded")
        } catch let error as ResumableError {
            #expect(error.code == .usage)
            #expect(error.message.contains("arena is full"), "\(error.message)")
        }
    }

    @Test(
        "a real segmentation fault during a snapshot still kills the process with SIGSEGV, with Swift's backtracer off and on",
        arguments: ["enable=no", "enable=yes,interactive=no"])
    func realFaultsStillCrash(backtrace: String) throws {
        let directory = TestSupport.temporaryDirectory("arena-segv")
        let process = try TestProcess.crashWriter(
            run: directory + "/unused", arguments: ["--segfault-during-snapshot"],
            environment: ["SWIFT_BACKTRACE": backtrace], stderrPath: directory + "/stderr")
        let ended = process.wait(deadline: 120)
        let (status, signaled, hung) = (ended.status, ended.signaled, ended.timedOut)
        #expect(!hung, "still running after 120 s: \(process.stderr)")
        #expect(process.lines == ["writing to read-only memory"], "\(process.stderr)")
        #expect(signaled && status == SIGSEGV, "ended with \(status), signaled \(signaled): \(process.stderr)")
        if backtrace.hasPrefix("enable=yes") {  // the fault reached Swift's crash reporter
            #expect(process.stderr.contains("Program crashed"), "\(process.stderr)")
        }
    }

    @Test(
        "other runtimes' SIGSEGV handlers under and over ours: every snapshot reinstalls ours, their faults reach them, a real fault still kills",
        arguments: ["enable=no", "enable=yes,interactive=no"])
    func foreignHandlers(backtrace: String) throws {
        let directory = TestSupport.temporaryDirectory("arena-foreign")
        let process = try TestProcess.crashWriter(
            run: directory + "/unused", arguments: ["--foreign-handlers"],
            environment: ["SWIFT_BACKTRACE": backtrace], stderrPath: directory + "/stderr")
        let ended = process.wait(deadline: 120)
        let (status, signaled, hung) = (ended.status, ended.signaled, ended.timedOut)
        #expect(!hung, "still running after 120 s: \(process.lines) \(process.stderr)")
        #expect(
            process.lines == [
                "snapshot 1 ok", "runtime A recovered 1", "snapshot 2 ok", "snapshot 3 ok", "runtime B recovered 1",
                "snapshot 4 ok", "reinstalled 3", "writing to read-only memory",
            ], "\(process.stderr)")
        #expect(signaled && status == SIGSEGV, "ended with \(status), signaled \(signaled): \(process.stderr)")
        if backtrace.hasPrefix("enable=yes") {  // the fault reached Swift's crash reporter
            #expect(process.stderr.contains("Program crashed"), "\(process.stderr)")
        }
    }

    @Test(
        "copy-on-write off (API or RESUMABLE_COPY_ON_WRITE=0): saves hold the values, no handler is installed",
        arguments: [("default", [:]), ("api", [:]), ("env", ["RESUMABLE_COPY_ON_WRITE": "0"])] as [(String, [String: String])])
    func eagerCopies(mode: String, environment: [String: String]) throws {
        let directory = TestSupport.temporaryDirectory("arena-eager")
        let process = try TestProcess.crashWriter(
            run: directory + "/run", arguments: ["--snapshot-values", mode], environment: environment,
            stderrPath: directory + "/stderr")
        let ended = process.wait(deadline: 120)
        let (status, hung) = (ended.status, ended.timedOut)
        #expect(!hung && status == 0, "\(process.lines) \(process.stderr)")
        #expect(process.lines.last == "values ok", "\(process.lines) \(process.stderr)")
        let installed = process.lines.first { $0.hasPrefix("installed=") } ?? ""
        if mode == "default" {
            #expect(installed.hasPrefix("installed=true"), "\(process.lines)")
        } else {
            #expect(installed == "installed=false faults=0", "\(process.lines)")
        }
    }

    @Test("an arena made with copyOnWrite: false is copied when snapshotted: no pause, the snapshot holds the values")
    func eagerArena() throws {
        let arena = try TensorArena(capacity: 4 << 20, copyOnWrite: false)
        #expect(!arena.copyOnWrite)
        let w = try arena.allocate(UInt32.self, count: 500_000)
        for i in w.indices { w[i] = UInt32(i) }
        let buffer = SnapshotBuffer()
        let snapshot = try buffer.snapshot([
            TensorSource(name: "w", dtype: .u32, shape: [w.count], bytes: UnsafeRawBufferPointer(w))])
        w.update(repeating: 9)  // the arena is writable: the copy is made already
        try snapshot.complete()
        var ok = false
        try snapshot.tensors[0].withBytes { raw in ok = raw.bindMemory(to: UInt32.self).elementsEqual(0..<500_000) }
        #expect(ok)
    }
}
