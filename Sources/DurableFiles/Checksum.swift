import CSystemShims
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

/// CRC-32C (Castagnoli) of a stream of bytes, as 8 lowercase hex digits.
///
/// Not an integrity check (that is SHA-256's job): a cheap digest, computed by
/// the processor's CRC instructions at several GB/s, that tells which part of
/// a file a damaged byte is in.
public struct CRC32C: Sendable {
    private var value: UInt32 = 0

    public init() {}

    /// Adds bytes to the digest.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        value = resumable_crc32c(value, base, UInt(bytes.count))
    }

    /// The digest as 8 lowercase hex digits.
    public func finalize() -> String {
        let hex = String(value, radix: 16)
        return String(repeating: "0", count: 8 - hex.count) + hex
    }

    /// The CRC-32C of a whole buffer, as hex.
    public static func digest(_ bytes: UnsafeRawBufferPointer) -> String {
        var c = CRC32C()
        c.update(bytes)
        return c.finalize()
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
/// and, optionally, the CRC-32C of segments of it (one per tensor).
///
/// Each large write is cut into chunks; every chunk is handed to the SHA-256
/// lane (a serial queue, so on another core) and written by the caller, who
/// then adds it to the segment's CRC-32C, so the write and both digests
/// proceed at once instead of one after the other. A `write` returns when
/// its bytes are written and hashed. Kernel writeback is started every few
/// chunks so the disk stays busy and the final fsync is short.
public final class ChecksummingWriter: @unchecked Sendable {
    /// The file written to.
    public let file: DurableFile
    private let fileLane = HashLane(label: "resumable.sha256.file")
    private var segment: CRC32C?
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

    /// Starts a segment (one tensor's bytes) whose CRC-32C is computed besides the file's SHA-256.
    public func beginSegment() { segment = CRC32C() }

    /// Ends the current segment and returns its CRC-32C.
    public func endSegment() -> String {
        let digest = isHashing ? (segment ?? CRC32C()).finalize() : ""
        segment = nil
        return digest
    }

    /// Writes and hashes `bytes`; returns once both are done.
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        if isHashing && bytes.count < Self.laneThreshold {
            fileLane.update(bytes)
            segment?.update(bytes)
            try file.write(bytes)
            return
        }
        // The lanes read `bytes` until `pending` is waited for: wait on every exit.
        defer { pending.wait() }
        var start = 0
        while start < bytes.count {
            let end = min(bytes.count, start + Self.chunkSize)
            let chunk = UnsafeRawBufferPointer(rebasing: bytes[start..<end])
            if isHashing { fileLane.enqueue(chunk, group: pending) }
            try file.write(chunk)
            if isHashing { segment?.update(chunk) }
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
