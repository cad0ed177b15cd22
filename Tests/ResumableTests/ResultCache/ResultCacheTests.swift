#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Resumable
import Testing

@Suite("ResultCache: computed once, stored durably, reused")
struct ResultCacheTests {
    @Test("a value is computed once and then reused, by this cache object and by another one")
    func computeOnceThenReuse() throws {
        let f = CacheFixture()
        defer { f.remove() }
        let calls = CallCounter()
        #expect(!FileManager.default.fileExists(atPath: f.directory))  // nothing made before a write
        #expect(try f.cache.get("features") == nil)
        #expect(!FileManager.default.fileExists(atPath: f.directory))
        let first = try f.cache.value(for: "features") { calls.increment(); return [1, 2, 3] }
        let second = try f.cache.value(for: "features") { calls.increment(); return [9] }
        let third = try f.sibling().value(for: "features") { calls.increment(); return [9] }
        #expect(first == [1, 2, 3] && second == [1, 2, 3] && third == [1, 2, 3])
        #expect(calls.count == 1)
        #expect(try f.cache.get("features") == [1, 2, 3])
        let (value, record) = f.paths(of: "features")
        #expect(try Array(Data(contentsOf: URL(fileURLWithPath: value))) == [1, 2, 3])
        let json = try TestSupport.json(String(contentsOfFile: record, encoding: .utf8))
        #expect(json["key"]?.stringValue == "features")
        #expect(json["bytes"]?.intValue == 3)
        #expect(json["sha256"]?.stringValue == [UInt8]([1, 2, 3]).withUnsafeBytes { Checksum.sha256($0) })
        #expect(json["schema_version"]?.intValue == 1)
        let shard = "entries/" + URL(fileURLWithPath: value).deletingLastPathComponent().lastPathComponent + "/"
        #expect(f.files() == [shard + URL(fileURLWithPath: value).lastPathComponent, shard + URL(fileURLWithPath: record).lastPathComponent])
        #expect(f.log.warnings.isEmpty)
    }

    @Test("get, put (replacing), remove; an empty value; keys of any text up to 4 KiB")
    func getPutRemove() throws {
        let f = CacheFixture()
        defer { f.remove() }
        let keys = ["a", "with spaces/and/slashes", "ünïcødé ✓", "line\nbreak\u{1}", String(repeating: "k", count: 4096)]
        for (i, key) in keys.enumerated() { try f.cache.put(key, [UInt8(i), 7]) }
        for (i, key) in keys.enumerated() { #expect(try f.cache.get(key) == [UInt8(i), 7]) }
        try f.cache.put("a", [42])
        #expect(try f.cache.get("a") == [42])
        try f.cache.put("empty", [])
        #expect(try f.cache.get("empty") == [])
        #expect(try f.cache.value(for: "empty") { Issue.record("recomputed"); return [1] } == [])
        #expect(try f.cache.entries().map(\.key) == (keys + ["empty"]).sorted())
        #expect(try f.cache.remove("a"))
        #expect(try !f.cache.remove("a"))
        #expect(try f.cache.get("a") == nil)
        #expect(throws: ResumableError.self) { try f.cache.put(String(repeating: "k", count: 4097), [1]) }
        #expect(throws: ResumableError.self) { try f.cache.get("") }
        do {
            _ = try f.cache.get("")
        } catch let error as ResumableError {
            #expect(error.exitCode == 64)
        }
        #expect(f.log.warnings.isEmpty)
    }

    @Test("threads asking for one missing key at once compute it once and all get its value")
    func threadsComputeOnce() throws {
        let f = CacheFixture()
        defer { f.remove() }
        let calls = CallCounter()
        let results = ResultsBox()
        DispatchQueue.concurrentPerform(iterations: 6) { i in
            let cache = i % 2 == 0 ? f.cache : f.sibling()
            let value = try? cache.value(for: "shared") {
                calls.increment()
                usleep(300_000)
                return Array("computed".utf8)
            }
            results.append(value)
        }
        #expect(calls.count == 1)
        #expect(results.all.count == 6 && results.all.allSatisfy { $0 == Array("computed".utf8) })
    }

    @Test("a waiter with a timeout fails with .locked (exit 75) while another thread computes, naming the holder")
    func waiterTimeout() throws {
        let f = CacheFixture()
        defer { f.remove() }
        let started = DispatchSemaphore(value: 0)
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            _ = try? f.cache.value(for: "slow") {
                started.signal()
                usleep(1_500_000)
                return [1]
            }
            done.signal()
        }
        started.wait()
        let impatient = f.sibling(lockTimeout: 0.2)
        var caught: ResumableError?
        do { _ = try impatient.value(for: "slow") { [2] } } catch let error as ResumableError { caught = error }
        #expect(caught?.exitCode == 75)
        #expect(caught?.message.contains("pid \(getpid())") == true)
        done.wait()
        #expect(try impatient.value(for: "slow") { [2] } == [1])
    }

    @Test("a compute that throws stores nothing and releases the key")
    func throwingCompute() throws {
        struct Failure: Error {}
        let f = CacheFixture()
        defer { f.remove() }
        #expect(throws: Failure.self) { try f.cache.value(for: "k") { throw Failure() } }
        #expect(try f.cache.get("k") == nil)
        #expect(throws: Failure.self) { try f.cache.file(for: "big") { path in
            _ = FileManager.default.createFile(atPath: path, contents: Data([1, 2]))
            throw Failure()
        } }
        #expect(try f.cache.cachedFile(for: "big") == nil)
        #expect(f.files().isEmpty)
        // The lock was released: a caller with no patience gets it at once.
        #expect(try f.sibling(lockTimeout: 0).value(for: "k") { [5] } == [5])
    }

    @Test("temporary files a killed writer left for a key are removed by the next holder of its lock, others' kept")
    func leftoverTemporaries() throws {
        let f = CacheFixture()
        defer { f.remove() }
        try f.cache.put("other", [0])
        let hash = Array("k".utf8).withUnsafeBytes { Checksum.sha256($0) }
        let otherHash = Array("other".utf8).withUnsafeBytes { Checksum.sha256($0) }
        for name in ["\(hash).999-1.bin", "\(hash).999-1.json", "\(otherHash).999-2.bin"] {
            #expect(FileManager.default.createFile(atPath: f.directory + "/tmp/" + name, contents: Data([9])))
        }
        #expect(try f.cache.value(for: "k") { [1] } == [1])
        #expect(try FileManager.default.contentsOfDirectory(atPath: f.directory + "/tmp") == ["\(otherHash).999-2.bin"])
    }

    @Test("Codable values round-trip as sorted-key JSON, computed once")
    func codableRoundTrip() throws {
        struct Features: Codable, Equatable {
            var mean: [Double]
            var label: String
            var count: Int
            var scale: Double
        }
        let f = CacheFixture()
        defer { f.remove() }
        let expected = Features(mean: [0.5, -1.25], label: "layers=4", count: 3, scale: 2)
        let calls = CallCounter()
        let first = try f.cache.value(for: "features v1", as: Features.self) { calls.increment(); return expected }
        let again = try f.sibling().value(for: "features v1", as: Features.self) { calls.increment(); return expected }
        #expect(first == expected && again == expected && calls.count == 1)
        let stored = String(decoding: try #require(try f.cache.get("features v1")), as: UTF8.self)
        #expect(stored == #"{"count":3,"label":"layers=4","mean":[0.5,-1.25],"scale":2}"#)
        // Another type under the same key: a warning, computed again and replaced.
        let other = try f.cache.value(for: "features v1", as: [Int].self) { [7] }
        #expect(other == [7])
        #expect(f.log.warnings.count == 1)
        #expect(try f.cache.value(for: "features v1", as: [Int].self) { [8] } == [7])
    }

    @Test("the file API streams a 50 MB artefact in and out, hashed, without the in-memory API")
    func bigFile() throws {
        let f = CacheFixture()
        defer { f.remove() }
        let size = 50 << 20
        var pattern = [UInt8](repeating: 0, count: size)
        var x: UInt32 = 12345
        for i in 0..<size {
            x = x &* 1_103_515_245 &+ 12345
            pattern[i] = UInt8(truncatingIfNeeded: x >> 16)
        }
        let calls = CallCounter()
        let path = try f.cache.file(for: "features.npy") { temporary in
            calls.increment()
            #expect(!FileManager.default.fileExists(atPath: temporary))
            try Data(pattern).write(to: URL(fileURLWithPath: temporary))
        }
        let again = try f.cache.file(for: "features.npy") { _ in calls.increment() }
        #expect(path == again && calls.count == 1)
        #expect(try f.cache.cachedFile(for: "features.npy") == path)
        let stored = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(stored.count == size && stored == Data(pattern))
        let entry = try #require(try f.cache.entries().first)
        #expect(entry.bytes == Int64(size))
        #expect(entry.sha256 == pattern.withUnsafeBytes { Checksum.sha256($0) })
        #expect(entry.path == path)
        // Read-only.
        var st = stat()
        #expect(stat(path, &st) == 0 && st.st_mode & 0o777 == 0o444)
        // put(contentsOf:) streams a file in too.
        let source = f.root + "/source.bin"
        try Data(pattern.reversed()).write(to: URL(fileURLWithPath: source))
        try f.cache.put("copied", contentsOf: source)
        #expect(try Data(contentsOf: URL(fileURLWithPath: try #require(try f.cache.cachedFile(for: "copied")))) == Data(pattern.reversed()))
        // A compute that writes nothing is refused (66) and stores nothing.
        #expect(throws: ResumableError.self) { try f.cache.file(for: "nothing") { _ in } }
        #expect(try f.cache.cachedFile(for: "nothing") == nil)
    }

    @Test("an I/O error injected at every write, fsync, rename, open and mkdir of a put leaves the old entry or none, never a partial one")
    func injectedFaults() throws {
        #expect(FaultInjection.isCompiled, "the suite is built with RESUMABLE_FAULT_INJECTION=1")
        let faults: [(FaultPoint, Int32, Bool)] = [
            (.write, EIO, false), (.write, ENOSPC, true), (.fsync, EIO, false), (.rename, EIO, false),
            (.open, EIO, false), (.mkdir, EIO, false), (.unlink, EIO, false),
        ]
        let old = [UInt8](repeating: 1, count: 10_000)
        let new = [UInt8](repeating: 2, count: 20_000)
        var fired = 0
        for (point, code, short) in faults {
            for withOld in [false, true] {
                var nth = 1
                while nth < 20 {
                    let f = CacheFixture("cache-fault")
                    defer { f.remove() }
                    if withOld { try f.cache.put("k", old) }
                    let scope = FaultScope(FaultInjection.Fault(point: point, nth: nth, errno: code, short: short))
                    var failed = false
                    do { try scope.run { try f.cache.put("k", new) } } catch { failed = true }
                    guard scope.triggered else {
                        #expect(!failed)
                        break
                    }
                    fired += 1
                    #expect(failed, "\(point) #\(nth)")
                    let seen = try f.cache.get("k")
                    #expect(seen == nil || seen == new || (withOld && seen == old), "\(point) #\(nth): \(seen?.count ?? -1) bytes")
                    #expect(f.log.warnings.isEmpty, "\(point) #\(nth): \(f.log.warnings)")
                    // The next put works and leaves no temporary file.
                    try f.cache.put("k", new)
                    #expect(try f.cache.get("k") == new)
                    #expect(f.files().allSatisfy { $0.hasPrefix("entries/") }, "\(f.files())")
                    nth += 1
                }
            }
        }
        #expect(fired >= 10)
    }
}

/// Values gathered from several threads.
final class ResultsBox: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [[UInt8]?] = []
    func append(_ value: [UInt8]?) { lock.withLock { values.append(value) } }
    var all: [[UInt8]?] { lock.withLock { values } }
}
