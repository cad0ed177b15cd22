#if canImport(Glibc)
import Glibc
#endif
import DurableFiles
public import SafeTensors
import Dispatch

/// One reusable block of memory that holds a copy of a training state's
/// tensors, so they can be written while training goes on.
///
/// The block is allocated once, grown only when a larger state comes, and
/// kept: memory that is freed and allocated again per save costs page faults
/// (over a second per GiB on machines that hand idle memory back to their
/// host), memory that is reused costs a `memcpy`.
///
/// It is a programmer error to use a `SnapshotBuffer` from two threads at once.
public final class SnapshotBuffer: @unchecked Sendable {
    private var base: UnsafeMutableRawPointer?
    /// Bytes allocated.
    public private(set) var capacity = 0
    private static let alignment = 2 << 20

    public init() {}

    deinit { base?.deallocate() }

    /// Copies `tensors` into the buffer (growing it first if needed) and
    /// returns sources that read the copies. The copy runs on every core.
    /// - Throws: `.usage` when a tensor's bytes do not match its shape and dtype.
    /// - Returns: sources valid until the next `snapshot` or `release`.
    public func snapshot(_ tensors: [TensorSource]) throws -> [TensorSource] {
        // Lay the tensors out (64-byte aligned), grow the block, then copy
        // each tensor while its bytes are reachable.
        var total = 0
        var regions: [Range<Int>] = []
        for t in tensors {
            guard let expected = t.expectedByteCount else {
                throw ResumableError(.usage, "tensor \"\(t.name)\": shape \(t.shape) of \(t.dtype.rawValue) overflows.")
            }
            regions.append(total..<(total + expected))
            total += (expected + 63) & ~63
        }
        reserve(total)
        guard let base else { return [] }
        for (t, region) in zip(tensors, regions) {
            try t.withBytes { raw in
                guard raw.count == region.count else {
                    throw ResumableError(
                        .usage, "tensor \"\(t.name)\" has \(raw.count) bytes but shape \(t.shape) of \(t.dtype.rawValue) needs \(region.count).")
                }
            }
        }
        Self.copy(tensors, to: regions, in: base)
        return zip(tensors, regions).map { t, region in
            TensorSource(
                name: t.name, dtype: t.dtype, shape: t.shape,
                bytes: UnsafeRawBufferPointer(start: base + region.lowerBound, count: region.count))
        }
    }

    /// The bytes a snapshot of `tensors` takes.
    public static func size(of tensors: [TensorSource]) -> Int {
        tensors.reduce(0) { $0 + (($1.expectedByteCount ?? 0) + 63) & ~63 }
    }

    /// Makes sure `bytes` are allocated; with `touch`, faults every page in
    /// now rather than during the first snapshot.
    public func reserve(_ bytes: Int, touch: Bool = false) {
        defer {
            if touch, let base {
                var offset = 0
                while offset < capacity {
                    base.storeBytes(of: 0, toByteOffset: offset, as: UInt8.self)
                    offset += 4096
                }
            }
        }
        guard bytes > capacity else { return }
        base?.deallocate()
        base = nil
        capacity = 0
        let size = (bytes + Self.alignment - 1) / Self.alignment * Self.alignment
        let p = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: Self.alignment)
        #if os(Linux)
        // Fewer, larger pages: faster to fault in and to copy into.
        _ = madvise(p, size, MADV_HUGEPAGE)
        #endif
        base = p
        capacity = size
    }

    /// Frees the memory (the next snapshot allocates it again).
    public func release() {
        base?.deallocate()
        base = nil
        capacity = 0
    }

    /// Copies every tensor to its region, on every core at once: the bytes
    /// are cut into pieces of at most 8 MiB (a small tensor is one piece) and
    /// the cores take pieces in turn, so small and large tensors alike are
    /// copied in parallel (two cores copy at ~1.8× the speed of one here).
    static func copy(_ tensors: [TensorSource], to regions: [Range<Int>], in base: UnsafeMutableRawPointer) {
        let pieceSize = 8 << 20
        var pieces: [(tensor: Int, range: Range<Int>)] = []
        for (i, region) in regions.enumerated() {
            var start = 0
            repeat {
                let end = min(region.count, start + pieceSize)
                pieces.append((i, start..<end))
                start = end
            } while start < region.count
        }
        nonisolated(unsafe) let destination = base
        let all = pieces
        let workers = max(1, min(all.count, sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            for p in stride(from: w, to: all.count, by: workers) {
                let (i, range) = all[p]
                // Sizes were checked before; a source that fails now copies nothing.
                try? tensors[i].withBytes { raw in
                    guard let from = raw.baseAddress, range.upperBound <= raw.count else { return }
                    memcpy(destination + regions[i].lowerBound + range.lowerBound, from + range.lowerBound, range.count)
                }
            }
        }
    }
}
