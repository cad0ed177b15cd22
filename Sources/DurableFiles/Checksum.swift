import CSystemShims
import Crypto

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
