#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Synchronization

/// Writes a file as a stream while hashing it: the SHA-256 of the whole file
/// and, optionally, the CRC-32C of segments of it (one per tensor).
///
/// Three stages run at once, each on its own thread:
/// 1. the caller copies the bytes into page-aligned buffers from
///    ``IOBufferPool`` (a cache-sized piece at a time), adding each piece to
///    the segment's CRC-32C while it is in cache;
/// 2. a hash thread adds each full buffer to the file's SHA-256 — for files
///    written together (``writers(for:hashing:)``), one thread per two files,
///    advancing both hashes at once (``HashPairing``);
/// 3. an I/O thread writes it with direct I/O (``DurableFile/writeBlock(_:)``),
///    so the device, not the processor, copies it, and the page cache is left
///    alone.
/// A writer holds at most four buffers, so the caller runs at most three
/// buffers ahead of the disk. A write failure is thrown by the next `write` or
/// by `finish`. The end of the file, shorter than a block, goes through the
/// page cache; `finish` makes everything durable.
///
/// It is a programmer error to use one writer from two threads at once. Call
/// `finish` or `abandon` before dropping a writer.
// @unchecked: the mutable state (`filling`, `filled`, `held`, `segment`,
// `stages`) belongs to the caller's thread. The stages' jobs touch only `sha`
// (the hash thread alone, between `submit` and `drain`), `file` (its
// `writeBlock`, in order on the I/O thread), and the Mutex-held `returned` and
// `failure`; `drain` joins them before the caller reads `sha` or uses `file`.
// No lock is taken per block beyond those Mutexes. Writers are handed to
// `Parallel.map` threads whole, one thread per writer.
package final class ChecksummingWriter: @unchecked Sendable {
    /// The file written to.
    package let file: DurableFile
    /// Whether bytes are hashed; without it every digest is empty.
    package let isHashing: Bool

    /// The size of the blocks handed to the device (one pool buffer).
    package static var blockSize: Int { IOBufferPool.shared.bufferSize }

    private var sha = Checksum()
    /// The hash stage shared with another writer, and this writer's side of it.
    private let pairing: (HashPairing, side: Int)?
    private var segment: CRC32C?
    private let pool = IOBufferPool.shared
    /// Bytes are copied and hashed in pieces of this size (cache-resident).
    private static let pieceSize = 512 << 10
    /// Buffers this writer holds at most.
    private static let maxBuffers = 4

    private var filling: IOBuffer?
    private var filled = 0
    private var held = 0
    /// The hash and I/O stages, started by the first full buffer. There is no
    /// hash thread of its own when the writer does not hash or shares a
    /// ``HashPairing``.
    private var stages: (hash: WorkerThread?, io: WorkerThread)?
    /// Buffers the I/O stage has finished with, for the caller to refill.
    private let returned = Mutex<[IOBuffer]>([])
    private let returnedCount = DispatchSemaphore(value: 0)
    private let failure = Mutex<ResumableError?>(nil)
    private let faultScope = FaultScope.capture()

    /// A writer to `file`.
    /// - Parameter hashing: `false` writes the same way without hashing (every
    ///   digest is then empty). It exists to measure what checksums cost;
    ///   checkpoints are always written with hashing on.
    package init(file: DurableFile, hashing: Bool = true) {
        self.file = file
        self.isHashing = hashing
        self.pairing = nil
    }

    private init(file: DurableFile, pairing: (HashPairing, side: Int)) {
        self.file = file
        self.isHashing = true
        self.pairing = pairing
    }

    /// Writers for files written at the same time (the shards of one tensor
    /// set), one per file. Where the processor has SHA-NI they share hash
    /// stages two by two, each advancing two files' SHA-256 at once
    /// (``hashStreamsPerCore``); otherwise each has its own.
    package static func writers(for files: [DurableFile], hashing: Bool = true) -> [ChecksummingWriter] {
        guard hashing, PairableSHA256.isAvailable, files.count > 1 else {
            return files.map { ChecksummingWriter(file: $0, hashing: hashing) }
        }
        var writers: [ChecksummingWriter] = []
        var index = 0
        while index < files.count {
            if index + 1 < files.count, let pairing = HashPairing() {
                writers.append(ChecksummingWriter(file: files[index], pairing: (pairing, 0)))
                writers.append(ChecksummingWriter(file: files[index + 1], pairing: (pairing, 1)))
                index += 2
            } else {
                writers.append(ChecksummingWriter(file: files[index]))
                index += 1
            }
        }
        return writers
    }

    /// How many SHA-256 streams one core advances at once when files are
    /// written together by ``writers(for:hashing:)``: 2 with SHA-NI, else 1.
    /// Tensor sets are split into this many shards per core.
    package static var hashStreamsPerCore: Int { PairableSHA256.isAvailable ? 2 : 1 }

    /// The SHA-256 streams this machine advances at once: online processors ×
    /// ``hashStreamsPerCore``. Tensor sets are split into no more shards.
    package static var parallelHashStreams: Int { max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN))) * hashStreamsPerCore }

    deinit {
        drain()
    }

    /// Starts a segment (one tensor's bytes) whose CRC-32C is computed besides the file's SHA-256.
    package func beginSegment() { segment = CRC32C() }

    /// Ends the current segment and returns its CRC-32C.
    package func endSegment() -> String {
        let digest = isHashing ? (segment ?? CRC32C()).finalize() : ""
        segment = nil
        return digest
    }

    /// Copies, hashes and queues `bytes` for writing.
    /// - Throws: the error of an earlier write that failed.
    package func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard let source = bytes.baseAddress else { return }
        var done = 0
        while done < bytes.count {
            let buffer = try currentBuffer()
            let n = min(bytes.count - done, buffer.capacity - filled, Self.pieceSize)
            let piece = UnsafeMutableRawBufferPointer(start: buffer.base + filled, count: n)
            piece.copyMemory(from: UnsafeRawBufferPointer(start: source + done, count: n))
            if isHashing { segment?.update(UnsafeRawBufferPointer(piece)) }
            filled += n
            done += n
            if filled == buffer.capacity { submit() }
        }
    }

    /// Queues `count` bytes that `fill` puts straight into the writer's
    /// buffers, a cache-sized piece at a time (each piece is hashed like
    /// `write`'s): `fill` must fill the whole piece it is given or throw. A
    /// file read with `pread` into the buffers is copied once, by the kernel.
    /// - Throws: what `fill` throws, or the error of an earlier write that failed.
    package func write(count: Int, filling fill: (UnsafeMutableRawBufferPointer) throws -> Void) throws {
        var done = 0
        while done < count {
            let buffer = try currentBuffer()
            let n = min(count - done, buffer.capacity - filled, Self.pieceSize)
            let piece = UnsafeMutableRawBufferPointer(start: buffer.base + filled, count: n)
            try fill(piece)
            if isHashing { segment?.update(UnsafeRawBufferPointer(piece)) }
            filled += n
            done += n
            if filled == buffer.capacity { submit() }
        }
    }

    /// Copies, hashes and queues an array's bytes.
    package func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { (raw: UnsafeRawBufferPointer) throws in try write(raw) }
    }

    /// Writes what is left, makes the file durable, closes it and returns its
    /// size and SHA-256.
    package func finish() throws -> (bytes: Int64, sha256: String) {
        if stages == nil, let buffer = filling {
            // All of it fits in one buffer: no stages needed.
            let bytes = UnsafeRawBufferPointer(start: buffer.base, count: filled)
            hashInline(bytes)
            do {
                try file.writeBlock(bytes)
            } catch {
                drain()
                throw error
            }
        } else if filled > 0 {
            submit()
        }
        drain()
        if let error = failure.withLock({ $0 }) { throw error }
        try file.sync()
        try file.close()
        let digest = !isHashing ? "" : pairing.map { $0.0.digest(side: $0.side) } ?? sha.finalize()
        return (file.offset, digest)
    }

    /// Waits for queued writes and closes the file without making it durable
    /// (the caller removes it).
    package func abandon() {
        drain()
        try? file.close()
    }

    /// The buffer being filled, taking one when there is none.
    private func currentBuffer() throws -> IOBuffer {
        if let filling { return filling }
        if let error = failure.withLock({ $0 }) { throw error }
        let buffer: IOBuffer
        if returnedCount.wait(timeout: .now()) == .success {
            buffer = returned.withLock { $0.removeLast() }
        } else if held == 0 {
            guard let fresh = pool.acquire() else {
                throw ResumableError(
                    .io, "cannot allocate an I/O buffer to write \(file.path): out of memory. Free memory and save again.",
                    path: file.path, errno: ENOMEM)
            }
            held = 1
            buffer = fresh
        } else if held < Self.maxBuffers, let fresh = pool.tryAcquire() {
            held += 1
            buffer = fresh
        } else {
            // Buffers are in flight: one comes back when its write is done.
            returnedCount.wait()
            buffer = returned.withLock { $0.removeLast() }
        }
        filling = buffer
        filled = 0
        return buffer
    }

    /// Hands the buffer being filled to the hash and I/O stages.
    private func submit() {
        guard let buffer = filling else { return }
        let count = filled
        filling = nil
        filled = 0
        let scope = faultScope
        nonisolated(unsafe) let bytes = UnsafeRawBufferPointer(start: buffer.base, count: count)
        let write: @Sendable () -> Void = { [self] in
            FaultScope.restoring(scope) {
                if failure.withLock({ $0 == nil }) {
                    do {
                        try file.writeBlock(bytes)
                    } catch let error as ResumableError {
                        failure.withLock { $0 = $0 ?? error }
                    } catch {
                        failure.withLock { $0 = $0 ?? ResumableError(.io, "writing \(file.path) failed: \(error)", path: file.path, cause: error) }
                    }
                }
            }
            returned.withLock { $0.append(buffer) }
            returnedCount.signal()
        }
        guard let stages = self.stages ?? makeStages() else {
            // No thread to be had: hash and write on the caller's thread.
            hashInline(bytes)
            write()
            return
        }
        self.stages = stages
        if let (pairing, side) = pairing {
            pairing.submit(side: side, bytes) { stages.io.async(write) }
            return
        }
        guard let hash = stages.hash else {
            stages.io.async(write)
            return
        }
        // Hashed in order by the hash stage, then written in order by the I/O stage.
        hash.async { [self] in
            sha.update(bytes)
            stages.io.async(write)
        }
    }

    /// Hashes bytes on the calling thread (nothing of this writer may be queued).
    private func hashInline(_ bytes: UnsafeRawBufferPointer) {
        guard isHashing else { return }
        if let (pairing, side) = pairing {
            pairing.updateDirectly(side: side, bytes)
        } else {
            sha.update(bytes)
        }
    }

    private func makeStages() -> (hash: WorkerThread?, io: WorkerThread)? {
        guard let io = WorkerThread() else { return nil }
        guard isHashing, pairing == nil else { return (nil, io) }
        guard let hash = WorkerThread() else {
            io.finish()
            return nil
        }
        return (hash, io)
    }

    /// Waits for the stages to finish and gives every buffer back to the pool.
    private func drain() {
        if let stages {
            if let (pairing, side) = pairing { pairing.wait(side: side) }
            stages.hash?.finish()
            stages.io.finish()
            self.stages = nil
        }
        releaseBuffers()
    }

    private func releaseBuffers() {
        if let filling {
            pool.release(filling)
            self.filling = nil
            held -= 1
        }
        while returnedCount.wait(timeout: .now()) == .success {
            pool.release(returned.withLock { $0.removeLast() })
            held -= 1
        }
    }
}
