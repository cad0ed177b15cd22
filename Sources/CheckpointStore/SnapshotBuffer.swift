#if canImport(Glibc)
import Glibc
#endif
import DurableFiles
package import SafeTensors
import Dispatch

/// One reusable block of memory that holds a copy of a training state's
/// tensors, so they can be written while training goes on.
///
/// The block is allocated once, grown only when a larger state comes, and
/// kept: memory that is freed and allocated again per save costs page faults
/// (over a second per GiB on machines that hand idle memory back to their
/// host), memory that is reused costs a `memcpy`. Tensors in a
/// ``TensorArena`` are copied into it lazily, copy-on-write.
///
/// It is a programmer error to use a `SnapshotBuffer` from two threads at
/// once, so it is not `Sendable`: an ``AsyncCheckpointWriter`` owns one and
/// uses it from one thread at a time (a save in flight excludes the others).
package final class SnapshotBuffer {
    private var base: UnsafeMutableRawPointer?
    /// Bytes allocated.
    package private(set) var capacity = 0
    private static let alignment = 2 << 20
    /// Copy-on-write snapshots that may still copy into the block: finished
    /// before the block is reused, grown or freed.
    private var outstanding: [CopyOnWriteSnapshot] = []

    package init() {}

    deinit {
        finishOutstanding()
        base?.deallocate()
    }

    private func finishOutstanding() {
        for p in outstanding { try? p.finish() }
        outstanding = []
    }

    /// A snapshot: sources that read the copies, and the copies still to make.
    package struct Snapshot: Sendable {
        /// The tensors as they were when the snapshot was taken, valid until
        /// the next `snapshot` or `release`, readable once ``complete()`` returned.
        package let tensors: [TensorSource]
        let pending: [CopyOnWriteSnapshot]

        /// Copies what no write has copied yet of the tensors in a
        /// ``TensorArena`` (on every core) and makes the arena writable
        /// everywhere again. Call it before reading ``tensors``.
        /// - Throws: `.io` when an arena snapshot is incomplete.
        package func complete() throws {
            var failure: (any Error)?
            for p in pending {
                do { try p.finish() } catch { failure = failure ?? error }
            }
            if let failure { throw failure }
        }
    }

    /// Snapshots `tensors` into the buffer (growing it first if needed).
    ///
    /// Tensors that live in a ``TensorArena`` are snapshotted copy-on-write:
    /// their memory is write-protected and copied later, by
    /// ``Snapshot/complete()`` or by the first write to each 2 MiB piece. All
    /// other tensors are copied now, on every core, and so are arena tensors
    /// when `copyOnWrite` is `false` or their arena's
    /// ``TensorArena/copyOnWrite`` is.
    /// - Throws: `.usage` when a tensor's bytes do not match its shape and dtype.
    package func snapshot(_ tensors: [TensorSource], copyOnWrite: Bool = true) throws -> Snapshot {
        let layout = try Layout(tensors)
        reserve(layout.total)  // finishes the previous snapshot's copies first
        guard let base else { return Snapshot(tensors: [], pending: []) }

        Self.copy(layout.copied.map { tensors[$0] }, to: layout.copied.map { layout.regions[$0] }, in: base)
        var pending: [CopyOnWriteSnapshot] = []
        for (a, start) in zip(layout.arenas, layout.extentStarts) {
            // Copy-on-write is off, or protection failed (the system is out
            // of memory maps): copy now instead.
            if copyOnWrite, a.arena.copyOnWrite, let p = try? a.arena.beginSnapshot(of: a.span, into: base + start) {
                pending.append(p)
                continue
            }
            let extent = TensorArena.snapshotExtent(of: a.span)
            let bytes = UnsafeRawBufferPointer(start: a.arena.base + extent.lowerBound, count: extent.count)
            Self.copy(
                [TensorSource(name: "", dtype: .u8, shape: [extent.count], bytes: bytes)],
                to: [start..<(start + extent.count)], in: base)
        }
        let sources = zip(tensors, layout.regions).map { t, region in
            TensorSource(
                name: t.name, dtype: t.dtype, shape: t.shape,
                bytes: UnsafeRawBufferPointer(start: base + region.lowerBound, count: region.count))
        }
        outstanding = pending
        return Snapshot(tensors: sources, pending: pending)
    }

    /// The bytes a snapshot of `tensors` takes.
    package static func size(of tensors: [TensorSource]) -> Int {
        (try? Layout(tensors).total) ?? 0
    }

    /// Where a snapshot puts each tensor: first the snapshot extent of each
    /// arena that holds some of them, then every other tensor, 64-byte aligned.
    private struct Layout {
        var arenas: [(arena: TensorArena, span: Range<Int>)] = []
        var extentStarts: [Int] = []
        var regions: [Range<Int>] = []
        /// The tensors copied at once (not in an arena).
        var copied: [Int] = []
        var total = 0

        init(_ tensors: [TensorSource]) throws {
            var placement: [(arena: Int, offset: Int)?] = []
            for t in tensors {
                guard let expected = t.expectedByteCount else {
                    throw ResumableError(.usage, "tensor \"\(t.name)\": shape \(t.shape) of \(t.dtype.rawValue) overflows.")
                }
                var place: (arena: Int, offset: Int)?
                try t.withBytes { raw in
                    guard raw.count == expected else {
                        throw ResumableError(
                            .usage, "tensor \"\(t.name)\" has \(raw.count) bytes but shape \(t.shape) of \(t.dtype.rawValue) needs \(expected).")
                    }
                    guard expected > 0, let arena = TensorArena.containing(raw), let start = raw.baseAddress else { return }
                    let offset = start - UnsafeRawPointer(arena.base)
                    let span = offset..<(offset + raw.count)
                    if let i = arenas.firstIndex(where: { $0.arena === arena }) {
                        let old = arenas[i].span
                        arenas[i].span = min(old.lowerBound, span.lowerBound)..<max(old.upperBound, span.upperBound)
                        place = (i, offset)
                    } else {
                        arenas.append((arena, span))
                        place = (arenas.count - 1, offset)
                    }
                }
                placement.append(place)
            }
            for a in arenas {
                extentStarts.append(total)
                total += (TensorArena.snapshotExtent(of: a.span).count + 63) & ~63
            }
            for (i, t) in tensors.enumerated() {
                let count = t.expectedByteCount ?? 0
                if let place = placement[i] {
                    let extent = TensorArena.snapshotExtent(of: arenas[place.arena].span)
                    let at = extentStarts[place.arena] + place.offset - extent.lowerBound
                    regions.append(at..<(at + count))
                } else {
                    regions.append(total..<(total + count))
                    total += (count + 63) & ~63
                    copied.append(i)
                }
            }
        }
    }

    /// Makes sure `bytes` are allocated; with `touch`, faults every page in
    /// now rather than during the first snapshot.
    package func reserve(_ bytes: Int, touch: Bool = false) {
        finishOutstanding()
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
    package func release() {
        finishOutstanding()
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
