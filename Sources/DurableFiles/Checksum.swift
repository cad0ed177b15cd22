import Crypto
import Dispatch

/// SHA-256 of a stream of bytes, as lowercase hex.
public struct Checksum {
    private var hasher = SHA256()

    public init() {}

    /// Adds bytes to the digest.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        hasher.update(bufferPointer: bytes)
    }

    /// The hex digest of everything added.
    public func finalize() -> String {
        hasher.finalize().map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }

    /// The SHA-256 of a whole buffer.
    public static func sha256(_ bytes: UnsafeRawBufferPointer) -> String {
        var c = Checksum()
        c.update(bytes)
        return c.finalize()
    }

    /// The SHA-256 of a file's contents, read through a memory map.
    public static func sha256(ofFile path: String) throws -> String {
        let mapped = try MappedFile(path: path)
        mapped.adviseSequential()
        return sha256(mapped.bytes)
    }
}

/// One SHA-256 stream fed from its own serial queue, so it runs on another
/// core while the caller goes on. Only the queue touches the hasher.
final class HashLane: @unchecked Sendable {
    private var checksum = Checksum()
    private let queue: DispatchQueue

    init(label: String) { queue = DispatchQueue(label: label) }

    /// Hashes `bytes` after everything queued before; they must stay valid until `group` is waited for.
    func enqueue(_ bytes: UnsafeRawBufferPointer, group: DispatchGroup) {
        nonisolated(unsafe) let bytes = bytes
        queue.async(group: group) { self.checksum.update(bytes) }
    }

    /// Hashes `bytes` on the calling thread (nothing may be queued).
    func update(_ bytes: UnsafeRawBufferPointer) { checksum.update(bytes) }

    /// The digest so far; nothing may be queued.
    func finalize() -> String { checksum.finalize() }
}

/// Writes bytes to a file while hashing them: the SHA-256 of the whole file
/// and, optionally, of segments of it (one per tensor).
///
/// Each large write is cut into chunks; every chunk is handed to two hashing
/// lanes (the file's digest and the segment's, each a serial queue) and
/// written by the caller meanwhile, so the write and both digests proceed on
/// all cores at once instead of one after the other. A `write` returns when
/// its bytes are written and hashed. Kernel writeback is started every few
/// chunks so the disk stays busy and the final fsync is short.
public final class ChecksummingWriter: @unchecked Sendable {
    /// The file written to.
    public let file: DurableFile
    private let fileLane = HashLane(label: "resumable.sha256.file")
    private var segmentLane: HashLane?
    private let pending = DispatchGroup()
    /// Bytes are written and hashed in pieces of this size.
    public static let chunkSize = 8 << 20
    /// Writes smaller than this are hashed on the calling thread.
    private static let laneThreshold = 1 << 20
    /// Start kernel writeback after this many bytes, to keep the disk busy.
    private static let writebackInterval: Int64 = 32 << 20
    private var sinceWriteback: Int64 = 0
    /// Whether bytes are hashed; without it every digest is empty.
    public let isHashing: Bool

    /// A writer to `file`.
    /// - Parameter hashing: `false` writes the same way without hashing (every
    ///   digest is then empty). It exists to measure what checksums cost;
    ///   checkpoints are always written with hashing on.
    public init(file: DurableFile, hashing: Bool = true) {
        self.file = file
        self.isHashing = hashing
    }

    /// Bytes written so far.
    public var bytesWritten: Int64 { file.offset }

    /// Starts hashing a segment (one tensor's bytes) besides the whole file.
    public func beginSegment() { segmentLane = HashLane(label: "resumable.sha256.segment") }

    /// Ends the current segment and returns its SHA-256.
    public func endSegment() -> String {
        let digest = isHashing ? (segmentLane ?? HashLane(label: "")).finalize() : ""
        segmentLane = nil
        return digest
    }

    /// Writes and hashes `bytes`; returns once both are done.
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        if isHashing && bytes.count < Self.laneThreshold {
            fileLane.update(bytes)
            segmentLane?.update(bytes)
            try file.write(bytes)
            return
        }
        // The lanes read `bytes` until `pending` is waited for: wait on every exit.
        defer { pending.wait() }
        var start = 0
        while start < bytes.count {
            let end = min(bytes.count, start + Self.chunkSize)
            let chunk = UnsafeRawBufferPointer(rebasing: bytes[start..<end])
            if isHashing {
                fileLane.enqueue(chunk, group: pending)
                segmentLane?.enqueue(chunk, group: pending)
            }
            try file.write(chunk)
            sinceWriteback += Int64(chunk.count)
            if sinceWriteback >= Self.writebackInterval {
                file.startWriteback()
                sinceWriteback = 0
            }
            start = end
        }
    }

    /// Writes and hashes an array's bytes.
    public func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { (raw: UnsafeRawBufferPointer) throws in try write(raw) }
    }

    /// Makes the file durable, closes it and returns its size and SHA-256.
    public func finish() throws -> (bytes: Int64, sha256: String) {
        try file.sync()
        try file.close()
        return (file.offset, isHashing ? fileLane.finalize() : "")
    }
}
