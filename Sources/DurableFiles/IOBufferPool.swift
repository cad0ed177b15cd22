import Glibc
import Dispatch
import Synchronization

/// A page-aligned I/O buffer from an ``IOBufferPool``.
// @unchecked: a handle to pool memory that one holder owns at a time (the
// pool, a writer filling it, or its hash/I-O stage until it is returned);
// the handle itself is immutable.
struct IOBuffer: @unchecked Sendable {
    let base: UnsafeMutableRawPointer
    let capacity: Int
}

/// Page-aligned I/O buffers, allocated once and kept for the life of the
/// process, so saves do not pay for fresh memory: on a machine that hands idle
/// memory back to its host, first-touching a fresh buffer costs more than
/// writing it. At most `limit` buffers exist, which bounds what a save needs
/// beyond the caller's tensors (`limit × bufferSize`, 64 MiB).
final class IOBufferPool: Sendable {
    /// 4 MiB (the largest request this machine's disk takes whole) × 16: four
    /// each for four files written at once (two shards per core), 64 MiB.
    static let shared = IOBufferPool(bufferSize: 4 << 20, limit: 16)

    let bufferSize: Int
    private let slots: DispatchSemaphore
    private let free = Mutex<[IOBuffer]>([])

    private static let hugePageSize = 2 << 20

    init(bufferSize: Int, limit: Int) {
        self.bufferSize = bufferSize
        slots = DispatchSemaphore(value: limit)
    }

    /// A buffer, waiting for one to be released when all are in use; `nil`
    /// only when memory for a new one cannot be had.
    func acquire() -> IOBuffer? {
        slots.wait()
        return take()
    }

    /// A buffer if one is free or may be made, else `nil`.
    func tryAcquire() -> IOBuffer? {
        guard slots.wait(timeout: .now()) == .success else { return nil }
        return take()
    }

    /// Gives a buffer back for reuse.
    func release(_ buffer: IOBuffer) {
        free.withLock { $0.append(buffer) }
        slots.signal()
    }

    private func take() -> IOBuffer? {
        if let b = free.withLock({ $0.popLast() }) { return b }
        // Aligned to, and asking for, 2 MiB huge pages: a direct write is then
        // handed to the device in a few large pieces instead of 2,048 pages,
        // which the disk queue would cut into many small requests.
        var p: UnsafeMutableRawPointer?
        guard posix_memalign(&p, Self.hugePageSize, bufferSize) == 0, let p else {
            slots.signal()
            return nil
        }
        #if os(Linux)
        _ = madvise(p, bufferSize, MADV_HUGEPAGE)
        #endif
        return IOBuffer(base: p, capacity: bufferSize)
    }
}
