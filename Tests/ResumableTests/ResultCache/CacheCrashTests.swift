#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Resumable
import Testing

/// `resumable cache put` SIGKILLed at random instants: the key holds one
/// whole value (the old or the new) or none, never a partial or damaged one.
@Suite("Crash: cache put killed at random instants")
struct CacheCrashTests {
    @Test("20 kills of a 16 MB put alternating two values: every read finds A, B or nothing, and no damage")
    func killedPuts() throws {
        let f = CacheFixture("cache-crash")
        defer { f.remove() }
        let size = 16 << 20
        let a = f.root + "/a.bin", b = f.root + "/b.bin"
        try Data(repeating: 0xAA, count: size).write(to: URL(fileURLWithPath: a))
        try Data(repeating: 0xBB, count: size).write(to: URL(fileURLWithPath: b))
        let digests = [a, b].map { path in
            (try? Data(contentsOf: URL(fileURLWithPath: path))).map { data in data.withUnsafeBytes { Checksum.sha256($0) } }
        }
        // Kill instants spread over 1.5 times an uninterrupted put's duration.
        let clock = Date()
        let timing = try TestSupport.run(TestSupport.resumable, ["cache", "put", "timing", a, "--dir", f.directory], deadline: 60)
        #expect(timing.status == 0, "\(timing)")
        let window = UInt32(min(2.0, Date().timeIntervalSince(clock) * 1.5) * 1_000_000)
        var generator = SystemRandomNumberGenerator()
        for round in 0..<20 {
            let source = round % 2 == 0 ? a : b
            let put = try TestProcess(TestSupport.resumable, ["cache", "put", "features", source, "--dir", f.directory])
            usleep(UInt32.random(in: 0...window, using: &generator))
            put.signal(SIGKILL)
            _ = put.wait(deadline: 30)
            let path = try f.cache.cachedFile(for: "features")
            if let path {
                let digest = try Data(contentsOf: URL(fileURLWithPath: path)).withUnsafeBytes { Checksum.sha256($0) }
                #expect(digests.contains(digest), "round \(round): a value that is neither A nor B")
            }
            #expect(f.log.warnings.isEmpty, "round \(round): \(f.log.warnings)")
        }
        // A put that is left to finish stores its value; the dead writers' temporary files are gone.
        let done = try TestSupport.run(TestSupport.resumable, ["cache", "put", "features", a, "--dir", f.directory], deadline: 60)
        #expect(done.status == 0, "\(done)")
        #expect(try f.cache.cachedFile(for: "features").map { try Data(contentsOf: URL(fileURLWithPath: $0)).count } == size)
        #expect(try FileManager.default.contentsOfDirectory(atPath: f.directory + "/tmp").isEmpty)
    }
}
