import Testing
import Resumable

/// The pipelined writer (copy and hash into aligned blocks, written by an I/O
/// queue with direct I/O) must produce the same bytes and digests as hashing
/// the data in one piece.
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
        let large = pattern(ChecksummingWriter.blockSize * 4 + 12345, seed: 2)  // more blocks than a writer holds
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
        // The full blocks bypassed the page cache (the test directory is on ext4, which has direct I/O).
        #expect(writer.file.directBytesWritten >= Int64(ChecksummingWriter.blockSize * 4))
    }

    @Test("files written at once by more writers than the buffer pool serves all complete, with the right digests")
    func manyWritersAtOnce() throws {
        let dir = TestSupport.temporaryDirectory("writer")
        let data = (0..<5).map { pattern(ChecksummingWriter.blockSize * 3 + 1000 * $0, seed: UInt64(20 + $0)) }
        let results = Parallel.map(Array(data.indices)) { i -> (Int64, String) in
            let writer = ChecksummingWriter(file: try DurableFile.create(FilePath.join(dir, "f\(i)")))
            try writer.write(data[i])
            return try writer.finish()
        }
        for (i, r) in results.enumerated() {
            let (bytes, sha) = try r.get()
            #expect(bytes == Int64(data[i].count))
            #expect(sha == data[i].withUnsafeBytes { Checksum.sha256($0) })
            #expect(try FileSystem.readFile(FilePath.join(dir, "f\(i)"), limit: 1 << 30) == data[i])
        }
    }

    @Test("without hashing the same bytes are written and every digest is empty")
    func withoutHashing() throws {
        let dir = TestSupport.temporaryDirectory("writer")
        let path = FilePath.join(dir, "f.bin")
        let data = pattern(ChecksummingWriter.blockSize + 77, seed: 9)
        let writer = ChecksummingWriter(file: try DurableFile.create(path), hashing: false)
        writer.beginSegment()
        try writer.write(data)
        #expect(writer.endSegment() == "")
        let (bytes, sha) = try writer.finish()
        #expect(bytes == Int64(data.count))
        #expect(sha == "")
        #expect(try FileSystem.readFile(path, limit: 1 << 30) == data)
    }

    @Test("writers made together (hash stages shared two by two where SHA-NI allows) give each file its own SHA-256, whatever the sizes")
    func pairedWriters() throws {
        let dir = TestSupport.temporaryDirectory("writer")
        let block = ChecksummingWriter.blockSize
        // Unequal sizes: one ends long before its partner, one fits in a block, odd tails everywhere.
        let sizes = [block * 5 + 3, block * 2 + 61, 1000, block * 3, block + 64 * 7 + 5]
        let data = sizes.enumerated().map { pattern($1, seed: UInt64(40 + $0)) }
        let files = try sizes.indices.map { try DurableFile.create(FilePath.join(dir, "p\($0)")) }
        let writers = ChecksummingWriter.writers(for: files)
        #expect(writers.count == sizes.count)
        let results = Parallel.map(Array(zip(writers, data))) { writer, bytes -> (Int64, String, String) in
            // Writes of uneven sizes, one of them a segment.
            try writer.write(Array(bytes.prefix(100)))
            writer.beginSegment()
            try writer.write(Array(bytes.dropFirst(100)))
            let crc = writer.endSegment()
            let (n, sha) = try writer.finish()
            return (n, sha, crc)
        }
        for (i, r) in results.enumerated() {
            let (bytes, sha, crc) = try r.get()
            #expect(bytes == Int64(sizes[i]))
            #expect(sha == data[i].withUnsafeBytes { Checksum.sha256($0) }, "file \(i)")
            #expect(crc == Array(data[i].dropFirst(100)).withUnsafeBytes { CRC32C.digest($0) }, "file \(i)")
            #expect(try FileSystem.readFile(FilePath.join(dir, "p\(i)"), limit: 1 << 30) == data[i])
        }
    }

    @Test("paired writers dropped right after they finish never hang, whichever thread lets go of them last")
    func pairedWritersReleasedAtOnce() throws {
        let dir = TestSupport.temporaryDirectory("writer")
        let data = pattern(ChecksummingWriter.blockSize + 4097, seed: 77)
        let expected = data.withUnsafeBytes { Checksum.sha256($0) }
        for round in 0..<30 {
            let files = try (0..<2).map { try DurableFile.create(FilePath.join(dir, "r\(round)-\($0)")) }
            // The writers exist only inside this call: the last reference may
            // be dropped by the shared hash thread's final job.
            let digests = Parallel.map(ChecksummingWriter.writers(for: files)) { writer -> String in
                try writer.write(data)
                return try writer.finish().sha256
            }
            for d in digests { #expect(try d.get() == expected, "round \(round)") }
        }
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

    /// CRC-32C one bit at a time: slow, obviously right.
    private func referenceCRC32C(_ bytes: ArraySlice<UInt8>) -> String {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            c ^= UInt32(b)
            for _ in 0..<8 { c = c & 1 == 1 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
        }
        let hex = String(~c, radix: 16)
        return String(repeating: "0", count: 8 - hex.count) + hex
    }

    @Test("CRC-32C of long buffers (three lanes combined) matches a bitwise reference at many lengths and offsets")
    func crc32cLongBuffers() {
        let data = pattern(80_000, seed: 5)
        for (offset, length) in [(0, 767), (1, 768), (3, 769), (0, 3 * 256 * 2 + 5), (5, 3 * 8192), (7, 3 * 8192 + 3 * 256 + 11), (0, 79_000)] {
            let slice = data[offset..<(offset + length)]
            #expect(slice.withUnsafeBytes { CRC32C.digest($0) } == referenceCRC32C(slice), "offset \(offset) length \(length)")
        }
    }
}
