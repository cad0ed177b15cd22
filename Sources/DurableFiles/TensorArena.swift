import Glibc
import CSystemShims
import Dispatch
import Synchronization

/// Memory for a training state that can be snapshotted copy-on-write, so an
/// asynchronous save blocks training for a fraction of a millisecond instead
/// of the time a copy of the whole state takes.
///
/// Allocate the tensors that checkpoints save (weights, optimizer moments) in
/// an arena. When a save snapshots them, the arena's memory is made read-only
/// in one system call and the save returns; a background thread copies it,
/// 2 MiB at a time, and makes each piece writable again once copied. A write
/// that reaches a piece not yet copied pauses while that piece is copied
/// (~0.1 ms), then goes on. Training that reads its weights before it writes
/// them (a forward and backward pass before the optimizer step) is not blocked
/// at all while the copy runs in the background.
///
/// - Important: while a save is being snapshotted, write into arena memory
///   from your own code only: a system call that writes into it (`read(2)`
///   into a tensor, say) fails with `EFAULT` instead of pausing. Do not change
///   the protection of arena memory yourself. The fault handler (SIGSEGV and
///   SIGBUS) is installed by the first snapshot and passes every other fault
///   to the handler that was there before it. Each snapshot checks that it is
///   still the installed handler and installs it again if not (a runtime that
///   installed its own over it, or got a fault handed back), chaining to
///   whatever it found.
///
/// **Eager copies instead.** Where write-protecting memory or a SIGSEGV
/// handler is unwelcome (a runtime that owns SIGSEGV, a debugger, a sanitizer),
/// turn copy-on-write off: `TensorArena(capacity:copyOnWrite: false)`,
/// `AsyncCheckpointWriter(store:copyOnWrite: false)`, or the environment
/// variable `RESUMABLE_COPY_ON_WRITE=0` for the whole process. Snapshots of
/// arena tensors are then copied before `save` returns, like any other
/// tensor's, and no signal handler is installed.
///
/// Memory is reserved, not touched: pages are made when first written.
// @unchecked: every stored property is set once by `init` (the pointers
// only name the mapping) or is a `Mutex`/semaphore; the tensors' bytes in it
// are the caller's, snapshots are serialised by `snapshotToken`.
public final class TensorArena: @unchecked Sendable {
    /// The bytes the arena can hold.
    public let capacity: Int
    /// The first byte of the arena (2 MiB aligned).
    public let base: UnsafeMutableRawPointer
    /// Whether snapshots of the arena are copy-on-write (`false`: copied
    /// when taken). `false` when the arena was made so, or when the
    /// environment says `RESUMABLE_COPY_ON_WRITE=0`.
    public let copyOnWrite: Bool
    private let mapping: (start: UnsafeMutableRawPointer, length: Int)
    private let slot: Int32
    private let allocated = Mutex(0)
    /// Held while a snapshot of the arena is being taken (one at a time).
    private let snapshotToken = DispatchSemaphore(value: 1)

    /// The granularity of snapshots: protection and copies go by 2 MiB.
    public static var chunkSize: Int { Int(resumable_cow_chunk_size()) }

    /// Whether the environment allows copy-on-write snapshots:
    /// `RESUMABLE_COPY_ON_WRITE` set to `0`, `false`, `no` or `off` turns them
    /// off for the process. Read once.
    public static let copyOnWriteAllowedByEnvironment: Bool = {
        guard let value = getenv("RESUMABLE_COPY_ON_WRITE") else { return true }
        return !["0", "false", "no", "off"].contains(String(cString: value).lowercased())
    }()

    /// An arena of at least `capacity` bytes (rounded up to 2 MiB).
    /// - Parameter copyOnWrite: `false` makes its snapshots eager copies (no
    ///   write protection, no signal handler); ``copyOnWriteAllowedByEnvironment``
    ///   can turn it off as well.
    /// - Throws: `.io` when the memory cannot be reserved or registered.
    public init(capacity: Int, copyOnWrite: Bool = true) throws {
        let chunk = Self.chunkSize
        guard capacity > 0, capacity <= Int.max - 2 * chunk else {
            throw ResumableError(.usage, "a tensor arena needs a capacity above 0 bytes (asked for \(capacity)).")
        }
        let size = (capacity + chunk - 1) / chunk * chunk
        // Map one chunk more, to start at a 2 MiB boundary (huge pages, whole chunks).
        let length = size + chunk
        guard let start = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
            start != MAP_FAILED
        else {
            let error = errno
            throw ResumableError(.io, "cannot reserve \(size) bytes for a tensor arena: \(describeErrno(error)).", errno: error)
        }
        let aligned = UnsafeMutableRawPointer(bitPattern: (Int(bitPattern: start) + chunk - 1) / chunk * chunk)!
        #if os(Linux)
        _ = madvise(aligned, size, MADV_HUGEPAGE)
        #endif
        let slot = resumable_cow_register(aligned, UInt(size))
        guard slot >= 0 else {
            let error = errno
            munmap(start, length)
            throw ResumableError(
                .io, "cannot register a tensor arena (at most 64 exist at once): \(describeErrno(error)).", errno: error)
        }
        self.capacity = size
        self.base = aligned
        self.copyOnWrite = copyOnWrite && Self.copyOnWriteAllowedByEnvironment
        self.mapping = (start, length)
        self.slot = slot
        Self.registry.withLock { $0[slot] = Unowned(self) }
    }

    deinit {
        // A snapshot in progress holds the arena, so none is in progress here.
        Self.registry.withLock { $0[slot] = nil }
        resumable_cow_unregister(slot)
        munmap(mapping.start, mapping.length)
    }

    /// Bytes handed out so far.
    public var used: Int { allocated.withLock { $0 } }

    /// `byteCount` bytes aligned to `alignment` (a power of two, at most 4096).
    /// The memory lives as long as the arena and starts zeroed.
    /// - Throws: `.usage` when the arena has no room left, or for another alignment.
    public func allocate(byteCount: Int, alignment: Int = 64) throws -> UnsafeMutableRawBufferPointer {
        guard alignment > 0, alignment & (alignment - 1) == 0, alignment <= 4096 else {
            throw ResumableError(.usage, "a tensor arena aligns to a power of two up to 4096 bytes, not \(alignment).")
        }
        let offset: Int? = allocated.withLock { used in
            let start = (used + alignment - 1) & ~(alignment - 1)
            guard byteCount >= 0, start <= capacity, byteCount <= capacity - start else { return nil }
            used = start + byteCount
            return start
        }
        guard let offset else {
            throw ResumableError(
                .usage,
                "the tensor arena is full: \(byteCount) more bytes asked for, \(capacity - used) of \(capacity) left. Make the arena larger.")
        }
        return UnsafeMutableRawBufferPointer(start: base + offset, count: byteCount)
    }

    /// `count` values of `T`, aligned to 64 bytes, zeroed.
    public func allocate<T: BitwiseCopyable>(_ type: T.Type, count: Int) throws -> UnsafeMutableBufferPointer<T> {
        let raw = try allocate(byteCount: count * MemoryLayout<T>.stride, alignment: max(64, MemoryLayout<T>.alignment))
        return raw.bindMemory(to: T.self)
    }

    /// The arena holding all of `bytes`, if any.
    package static func containing(_ bytes: UnsafeRawBufferPointer) -> TensorArena? {
        guard let start = bytes.baseAddress else { return nil }
        return registry.withLock { arenas in
            for entry in arenas.values {
                let arena = entry.arena
                if start >= UnsafeRawPointer(arena.base), start + bytes.count <= UnsafeRawPointer(arena.base + arena.capacity) {
                    return arena
                }
            }
            return nil
        }
    }

    /// Starts a copy-on-write snapshot of `range` (offsets into the arena; the
    /// snapshot covers whole 2 MiB pieces from the one holding its start) into
    /// `destination`, which must have room for ``CopyOnWriteSnapshot/length``
    /// bytes: see ``snapshotExtent(of:)``. Waits while another snapshot of
    /// the arena is being taken. Installs the fault handler again first if
    /// another has taken its place.
    /// - Throws: `.usage` when the arena's snapshots are not copy-on-write;
    ///   `.io` when the memory cannot be write-protected or the handler installed.
    package func beginSnapshot(of range: Range<Int>, into destination: UnsafeMutableRawPointer) throws -> CopyOnWriteSnapshot {
        guard copyOnWrite else {
            throw ResumableError(.usage, "this tensor arena's snapshots are eager copies (copy-on-write is off).")
        }
        let extent = Self.snapshotExtent(of: range)
        snapshotToken.wait()
        guard resumable_cow_begin(slot, UInt(extent.lowerBound), UInt(extent.count), destination) == 0 else {
            let error = errno
            snapshotToken.signal()
            throw ResumableError(
                .io, "cannot write-protect a tensor arena for a snapshot or install its fault handler: \(describeErrno(error)).",
                errno: error)
        }
        return CopyOnWriteSnapshot(arena: self, slot: slot, start: extent.lowerBound, length: extent.count)
    }

    /// The offsets a snapshot of `range` covers: from the start of the 2 MiB
    /// piece holding `range.lowerBound` to `range.upperBound`.
    package static func snapshotExtent(of range: Range<Int>) -> Range<Int> {
        (range.lowerBound / chunkSize * chunkSize)..<range.upperBound
    }

    fileprivate func endSnapshot() { snapshotToken.signal() }

    /// Writes that paused on a snapshot in this process so far, and the time
    /// they spent waiting for their piece to be copied.
    public static var faultStatistics: (writes: UInt64, seconds: Double) {
        var count: UInt64 = 0
        var nanoseconds: UInt64 = 0
        resumable_cow_fault_stats(&count, &nanoseconds)
        return (count, Double(nanoseconds) / 1e9)
    }

    /// Whether the copy-on-write fault handler is the installed SIGSEGV and
    /// SIGBUS handler now (asked of the system, not remembered).
    public static var faultHandlerInstalled: Bool { resumable_cow_handler_installed() == 1 }

    /// How many snapshots found the fault handler replaced and installed it again.
    public static var faultHandlerReinstalls: UInt64 { UInt64(resumable_cow_handler_reinstalls()) }

    // @unchecked for the `unowned(unsafe)` reference (a lifetime matter, not a
    // thread one): an arena removes its entry from `registry`, under its
    // Mutex, in `deinit`, and is looked up only for bytes inside it that the
    // caller keeps alive.
    private struct Unowned: @unchecked Sendable {
        unowned(unsafe) let arena: TensorArena
        init(_ arena: TensorArena) { self.arena = arena }
    }
    private static let registry = Mutex<[Int32: Unowned]>([:])
}

/// A copy-on-write snapshot of part of a ``TensorArena`` in progress: the
/// destination holds the part as it was when the snapshot began once
/// ``finish()`` returns. Dropping it finishes it.
package final class CopyOnWriteSnapshot: Sendable {
    /// The arena offset the snapshot starts at (2 MiB aligned).
    package let start: Int
    /// The bytes it covers.
    package let length: Int
    private let arena: TensorArena
    private let slot: Int32
    private let done = Mutex(false)

    fileprivate init(arena: TensorArena, slot: Int32, start: Int, length: Int) {
        self.arena = arena
        self.slot = slot
        self.start = start
        self.length = length
    }

    deinit { try? finish() }

    /// Copies every piece that no write has copied yet, on every core, and
    /// makes the arena fully writable again.
    /// - Throws: `.io` when a piece could not be made writable again (the
    ///   arena was made writable as a whole and the copy is incomplete).
    package func finish() throws {
        guard done.withLock({ let was = $0; $0 = true; return !was }) else { return }
        let chunks = Int(resumable_cow_snapshot_chunks(slot))
        let workers = max(1, min(chunks, sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        let slot = self.slot
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            for i in stride(from: w, to: chunks, by: workers) { resumable_cow_copy(slot, UInt(i)) }
        }
        let failure = resumable_cow_end(slot)
        arena.endSnapshot()
        guard failure == 0 else {
            throw ResumableError(
                .io, "a snapshot of a tensor arena is incomplete: its memory could not be made writable again piece by piece (\(describeErrno(failure))).",
                errno: failure)
        }
    }
}
