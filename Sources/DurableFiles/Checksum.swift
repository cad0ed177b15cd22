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
    public func finalize() -> String { hexString(hasher.finalize()) }

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

/// Lowercase hex of bytes.
func hexString(_ bytes: some Sequence<UInt8>) -> String {
    bytes.map { byte in
        let hex = String(byte, radix: 16)
        return byte < 16 ? "0" + hex : hex
    }.joined()
}

/// SHA-256 computed by this package's SHA-NI kernels, whose streams can be
/// advanced two at a time on one core (`update(_:_:_:_:)`): about 1.45× the
/// bytes per core of one stream. Only where the processor has SHA-NI
/// (`isAvailable`); one stream alone is no faster than swift-crypto's.
final class PairableSHA256 {
    static let isAvailable = resumable_sha256_ni_available() != 0
    private var context = resumable_sha256_ctx()

    init() { resumable_sha256_init(&context) }

    func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        resumable_sha256_update(&context, base, UInt(bytes.count))
    }

    /// Adds `pa` to `a` and `pb` to `b`, their common length at once.
    static func update(_ a: PairableSHA256, _ pa: UnsafeRawBufferPointer, _ b: PairableSHA256, _ pb: UnsafeRawBufferPointer) {
        let common = min(pa.count, pb.count)
        if common > 0, let baseA = pa.baseAddress, let baseB = pb.baseAddress {
            resumable_sha256_update2(&a.context, baseA, &b.context, baseB, UInt(common))
        }
        a.update(UnsafeRawBufferPointer(rebasing: pa[common...]))
        b.update(UnsafeRawBufferPointer(rebasing: pb[common...]))
    }

    func finalize() -> String {
        var digest = [UInt8](repeating: 0, count: 32)
        resumable_sha256_final(&context, &digest)
        return hexString(digest)
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
