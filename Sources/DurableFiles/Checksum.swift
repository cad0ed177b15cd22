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

/// Writes bytes to a file while hashing them: the SHA-256 of the whole file
/// and, optionally, of segments of it (one per tensor). Hashing runs on a
/// second core while each chunk is written, so checksums cost almost no wall
/// time, and kernel writeback is started early so the final fsync is short.
public final class ChecksummingWriter: @unchecked Sendable {
    /// The file written to.
    public let file: DurableFile
    private var checksum = Checksum()
    private var segment: Checksum?
    /// Bytes are written and hashed in pieces of this size.
    public static let chunkSize = 8 << 20
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
    public func beginSegment() { segment = Checksum() }

    /// Ends the current segment and returns its SHA-256.
    public func endSegment() -> String {
        let digest = isHashing ? (segment ?? Checksum()).finalize() : ""
        segment = nil
        return digest
    }

    /// Writes and hashes `bytes`.
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        var start = 0
        while start < bytes.count {
            let end = min(bytes.count, start + Self.chunkSize)
            nonisolated(unsafe) let chunk = UnsafeRawBufferPointer(rebasing: bytes[start..<end])
            if !isHashing {
                try file.write(chunk)
            } else if chunk.count < 1 << 20 {
                checksum.update(chunk)
                segment?.update(chunk)
                try file.write(chunk)
            } else {
                nonisolated(unsafe) var failure: ResumableError?
                nonisolated(unsafe) var fileHasher = checksum
                nonisolated(unsafe) var segmentHasher = segment
                let file = self.file
                DispatchQueue.concurrentPerform(iterations: 2) { i in
                    if i == 0 {
                        do { try file.write(chunk) } catch { failure = error as? ResumableError ?? ResumableError(.io, "\(error)") }
                        segmentHasher?.update(chunk)
                    } else {
                        fileHasher.update(chunk)
                    }
                }
                checksum = fileHasher
                segment = segmentHasher
                if let failure { throw failure }
            }
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
        return (file.offset, isHashing ? checksum.finalize() : "")
    }
}
