import Foundation
import Dispatch
import Synchronization
import Testing
@testable import CheckpointStore
import Resumable

/// Counters shared by the threads of a test.
private final class Shared: Sendable {
    let stop = Atomic<Bool>(false)
    let reads = Atomic<Int>(0)
    let inconsistent = Atomic<Int>(0)
}

@Suite("Sendable claims")
struct SendableClaimsTests {
    /// Issue 11 item 13: the background writer read `retention` and
    /// `protectedSteps` while the caller could set them (a data race that
    /// ThreadSanitizer reports, and that can crash on a freed Set). They live
    /// in a Mutex now: every read sees a whole value one setter wrote.
    @Test("retention and protectedSteps can be set while an AsyncCheckpointWriter commits in the background")
    func retentionSetWhileCommitting() throws {
        let store = try CheckpointStore(directory: TestSupport.temporaryDirectory("sendable"), access: .write, create: true)
        store.retention = RetentionPolicy(keepLast: 2)
        // Every value set always protects step 1 and holds 65 steps.
        let protected: @Sendable (Int) -> Set<Int64> = { round in Set([1] + (0..<64).map { Int64(1_000 + round * 64 + $0) }) }
        store.protectedSteps = protected(0)
        let shared = Shared()
        let done = DispatchGroup()
        // Threads of their own (not the shared pool, which a busy suite may
        // not run before the saves are over), pausing a little between turns
        // so two cores still have room for the writer.
        done.enter()
        Thread.detachNewThread {
            var round = 0
            while !shared.stop.load(ordering: .relaxed) {
                round += 1
                store.retention = RetentionPolicy(keepLast: 2 + round % 2)
                store.protectedSteps = protected(round)
                usleep(50)
            }
            done.leave()
        }
        done.enter()
        Thread.detachNewThread {
            while !shared.stop.load(ordering: .relaxed) {
                let steps = store.protectedSteps
                let keep = store.retention?.keepLast
                if !steps.contains(1) || steps.count != 65 || (keep != 2 && keep != 3) {
                    shared.inconsistent.add(1, ordering: .relaxed)
                }
                shared.reads.add(1, ordering: .relaxed)
                usleep(50)
            }
            done.leave()
        }
        // The saves start once the reader runs.
        let started = ContinuousClock.now
        while shared.reads.load(ordering: .relaxed) == 0 && ContinuousClock.now - started < .seconds(60) { usleep(1_000) }
        let writer = AsyncCheckpointWriter(store: store, copyOnWrite: false)
        let values = [Float](repeating: 0.5, count: 1024)
        for step in Int64(1)...30 {
            try writer.save(step: step, tensors: [TensorSource(name: "w", dtype: .f32, shape: [values.count], values: values)])
        }
        try writer.flush()
        shared.stop.store(true, ordering: .relaxed)
        done.wait()

        #expect(shared.inconsistent.load(ordering: .relaxed) == 0)
        #expect(shared.reads.load(ordering: .relaxed) > 0)
        let steps = try store.committedSteps()
        // Step 1 was protected by every value ever set; the newest is always kept.
        #expect(steps.first == 1)
        #expect(steps.last == 30)
        #expect(steps.count <= 4)
    }

    /// Issue 11 item 13: `TensorSource.withBytes` was a plain closure in a
    /// type that claimed `Sendable`, yet writes call it on other threads, and
    /// a snapshot on several at once. It is `@Sendable` now: the assignment
    /// below does not compile against the old declaration.
    @Test("a TensorSource's bytes may be read from several threads at once")
    func tensorSourceReadFromThreads() throws {
        let values = (0..<4096).map { Float($0) }
        let source = TensorSource(name: "w", dtype: .f32, shape: [values.count], values: values)
        let read: @Sendable ((UnsafeRawBufferPointer) throws -> Void) throws -> Void = source.withBytes
        let mismatches = Mutex(0)
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            var same = false
            try? read { raw in same = raw.bindMemory(to: Float.self).elementsEqual(values) }
            if !same { mismatches.withLock { $0 += 1 } }
        }
        #expect(mismatches.withLock { $0 } == 0)
        // The claims that hold are checked by the compiler, not asserted.
        func requireSendable<T: Sendable>(_: T.Type) {}
        requireSendable(TensorSource.self)
        requireSendable(SafeTensorsWriter.FileSpec.self)
        requireSendable(ShardPlan.self)
        requireSendable(SnapshotBuffer.Snapshot.self)
        requireSendable(CheckpointStore.self)
    }
}
