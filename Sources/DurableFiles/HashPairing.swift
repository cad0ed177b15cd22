import Dispatch
import Synchronization

/// The hash stage two ``ChecksummingWriter``s share: one thread that advances
/// both files' SHA-256 at once whenever both have a block waiting, and one
/// alone otherwise — it never waits for the other side, so neither writer can
/// stall the other. Each block, once hashed, is handed on (`then`) to its
/// writer's I/O stage.
// @unchecked: `streams` (not Sendable) are advanced only by `worker`'s jobs,
// one at a time, or by `updateDirectly` when nothing of that side is queued,
// and read by `digest` after `wait`; the queues are behind a Mutex.
final class HashPairing: @unchecked Sendable {
    // @unchecked: `bytes` points into a buffer its writer does not touch
    // until `then` has handed it on.
    private struct Item: @unchecked Sendable {
        let bytes: UnsafeRawBufferPointer
        let then: @Sendable () -> Void
    }

    private let streams = [PairableSHA256(), PairableSHA256()]
    private let queues = Mutex<[[Item]]>([[], []])
    private let outstanding = [DispatchGroup(), DispatchGroup()]
    private let worker: WorkerThread

    /// A pairing with its thread, or `nil` when no thread can be started.
    init?() {
        guard let worker = WorkerThread() else { return nil }
        self.worker = worker
    }

    deinit { worker.finish() }

    /// Queues a block of `side`'s file (0 or 1) to be hashed, then `then` to run.
    func submit(side: Int, _ bytes: UnsafeRawBufferPointer, then: @escaping @Sendable () -> Void) {
        outstanding[side].enter()
        let item = Item(bytes: bytes, then: then)
        queues.withLock { $0[side].append(item) }
        worker.async { [self] in step() }
    }

    /// Hashes bytes of `side` on the calling thread (nothing of that side may be queued).
    func updateDirectly(side: Int, _ bytes: UnsafeRawBufferPointer) { streams[side].update(bytes) }

    /// Waits until every block `side` queued is hashed and handed on.
    func wait(side: Int) { outstanding[side].wait() }

    /// The digest of `side`'s file; call after `wait(side:)`, once.
    func digest(side: Int) -> String { streams[side].finalize() }

    /// One job per queued block; a job takes a block of each side when both
    /// have one, so some jobs find nothing left.
    private func step() {
        let (a, b) = queues.withLock { q in (q[0].isEmpty ? nil : q[0].removeFirst(), q[1].isEmpty ? nil : q[1].removeFirst()) }
        switch (a, b) {
        case let (a?, b?): PairableSHA256.update(streams[0], a.bytes, streams[1], b.bytes)
        case let (a?, nil): streams[0].update(a.bytes)
        case let (nil, b?): streams[1].update(b.bytes)
        case (nil, nil): return
        }
        if let a {
            a.then()
            outstanding[0].leave()
        }
        if let b {
            b.then()
            outstanding[1].leave()
        }
    }
}
