import Testing
import Resumable

/// The pipelined writer (write and two SHA-256 lanes at once) must produce the
/// same bytes and digests as hashing the data in one piece.
@Suite("ChecksummingWriter")
struct ChecksummingWriterTests {
    /// Bytes that differ everywhere, so a chunk hashed twice or out of order changes the digest.
    private func pattern(_ count: Int, seed: UInt64) -> [UInt8] {
        var x = seed
        return (0..<count).map { _ in
            x = x &* 6364136223846793005 &+ 1442695040888963407
            return UInt8(truncatingIfNeeded: x >> 56)
        }
    }

    @Test("file SHA-256 and segment CRC-32C digests match the data, across chunks, small writes and segments")
    func digestsMatch() throws {
        let dir = TestSupport.temporaryDirectory("writer")
        let path = FilePath.join(dir, "f.bin")
        let small = pattern(1000, seed: 1)
        let large = pattern(ChecksummingWriter.chunkSize * 2 + 12345, seed: 2)  // three chunks, the last short
        let medium = pattern(3 << 20, seed: 3)
        let writer = ChecksummingWriter(file: try DurableFile.create(path))
        try writer.write(small)
        writer.beginSegment()
        try writer.write(large)
        try writer.write(small)
        let segment1 = writer.endSegment()
        writer.beginSegment()
        try writer.write(medium)
        let segment2 = writer.endSegment()
        let (bytes, sha) = try writer.finish()

        let whole = small + large + small + medium
        #expect(bytes == Int64(whole.count))
        #expect(try FileSystem.readFile(path, limit: 1 << 30) == whole)
        #expect(sha == whole.withUnsafeBytes { Checksum.sha256($0) })
        #expect(segment1 == (large + small).withUnsafeBytes { CRC32C.digest($0) })
        #expect(segment2 == medium.withUnsafeBytes { CRC32C.digest($0) })
        #expect(sha == (try Checksum.sha256(ofFile: path)))
    }

    @Test("without hashing the same bytes are written and every digest is empty")
    func withoutHashing() throws {
        let dir = TestSupport.temporaryDirectory("writer")
        let path = FilePath.join(dir, "f.bin")
        let data = pattern(ChecksummingWriter.chunkSize + 77, seed: 9)
        let writer = ChecksummingWriter(file: try DurableFile.create(path), hashing: false)
        writer.beginSegment()
        try writer.write(data)
        #expect(writer.endSegment() == "")
        let (bytes, sha) = try writer.finish()
        #expect(bytes == Int64(data.count))
        #expect(sha == "")
        #expect(try FileSystem.readFile(path, limit: 1 << 30) == data)
    }

    @Test("CRC-32C matches the standard check values, in one piece or many")
    func crc32cCheckValues() {
        #expect(Array("123456789".utf8).withUnsafeBytes { CRC32C.digest($0) } == "e3069283")
        #expect([UInt8]().withUnsafeBytes { CRC32C.digest($0) } == "00000000")
        #expect([UInt8](repeating: 0, count: 32).withUnsafeBytes { CRC32C.digest($0) } == "8a9136aa")
        #expect([UInt8](repeating: 0xFF, count: 32).withUnsafeBytes { CRC32C.digest($0) } == "62a8ab43")
        let data = pattern(100_003, seed: 4)
        var pieces = CRC32C()
        data.withUnsafeBytes { raw in
            var start = 0
            for size in [1, 7, 8, 9, 4096, 50_000] {
                pieces.update(UnsafeRawBufferPointer(rebasing: raw[start..<(start + size)]))
                start += size
            }
            pieces.update(UnsafeRawBufferPointer(rebasing: raw[start...]))
        }
        #expect(pieces.finalize() == data.withUnsafeBytes { CRC32C.digest($0) })
    }
}
