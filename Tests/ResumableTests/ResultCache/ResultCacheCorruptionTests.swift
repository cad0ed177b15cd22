#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Resumable
import Testing

/// Every kind of damage to an entry is detected on read, logged as a warning
/// naming the path, removed, and recomputed — never returned.
@Suite("ResultCache: damaged entries are detected, warned about, removed and recomputed")
struct ResultCacheCorruptionTests {
    enum Damage: String, CaseIterable, CustomTestStringConvertible {
        case flippedByte, truncated, grown, symlinkToCopy, fifo, directory, recordOfAnotherKey, recordNotJSON,
            recordSymlink, recordFIFO, valueMissing
        var testDescription: String { rawValue }

        /// The file the warning must name.
        func damagedPath(_ paths: (value: String, record: String)) -> String {
            switch self {
            case .recordOfAnotherKey, .recordNotJSON, .recordSymlink, .recordFIFO: return paths.record
            default: return paths.value
            }
        }

        func apply(to f: CacheFixture, key: String, original: [UInt8]) throws {
            let (value, record) = f.paths(of: key)
            switch self {
            case .flippedByte:
                var bytes = original
                bytes[bytes.count / 2] ^= 0x01
                try CacheFixture.overwrite(value, with: bytes)
            case .truncated:
                chmod(value, 0o644)
                #expect(truncate(value, off_t(original.count - 1)) == 0)
            case .grown:
                try CacheFixture.overwrite(value, with: original + [0])
            case .symlinkToCopy:
                // The same bytes behind a link: still refused, never followed.
                let copy = f.root + "/copy.bin"
                try Data(original).write(to: URL(fileURLWithPath: copy))
                unlink(value)
                #expect(symlink(copy, value) == 0)
            case .fifo:
                unlink(value)
                #expect(mkfifo(value, 0o644) == 0)
            case .directory:
                unlink(value)
                try FileManager.default.createDirectory(atPath: value + "/inner", withIntermediateDirectories: true)
            case .recordOfAnotherKey:
                let text = try String(contentsOfFile: record, encoding: .utf8)
                try CacheFixture.overwrite(record, with: Array(text.replacingOccurrences(of: "\"\(key)\"", with: "\"other\"").utf8))
            case .recordNotJSON:
                try CacheFixture.overwrite(record, with: Array("{\"schema_version\":1,".utf8))
            case .recordSymlink:
                let copy = f.root + "/record.json"
                try FileManager.default.copyItem(atPath: record, toPath: copy)
                unlink(record)
                #expect(symlink(copy, record) == 0)
            case .recordFIFO:
                unlink(record)
                #expect(mkfifo(record, 0o644) == 0)
            case .valueMissing:
                unlink(value)
            }
        }
    }

    @Test("value(for:) and get never return a damaged entry", arguments: Damage.allCases)
    func damaged(_ damage: Damage) throws {
        let f = CacheFixture("cache-damage")
        defer { f.remove() }
        let key = "features"
        let original = Array("the original value, long enough to flip a byte in".utf8)
        try f.cache.put(key, original)
        try damage.apply(to: f, key: key, original: original)
        let paths = f.paths(of: key)

        // With a deadline: a FIFO must never block the reader.
        let calls = CallCounter()
        let result = try Self.withDeadline(10) {
            try f.sibling().value(for: key) { calls.increment(); return Array("recomputed".utf8) }
        }
        #expect(result == Array("recomputed".utf8))
        #expect(calls.count == 1)
        #expect(f.log.warnings.count == 1, "\(f.log.warnings)")
        let warning = f.log.warnings.first ?? ""
        #expect(warning.contains(damage.damagedPath(paths)), "\(warning)")
        // The entry is whole again, and reused.
        #expect(try f.cache.get(key) == Array("recomputed".utf8))
        #expect(try f.cache.value(for: key) { calls.increment(); return [] } == Array("recomputed".utf8))
        #expect(calls.count == 1)
        #expect(f.log.warnings.count == 1)
    }

    @Test("get and cachedFile report a damaged entry as absent, after removing it", arguments: [Damage.flippedByte, .fifo, .truncated])
    func damagedGet(_ damage: Damage) throws {
        let f = CacheFixture("cache-damage-get")
        defer { f.remove() }
        let original = [UInt8](repeating: 3, count: 1000)
        try f.cache.put("a", original)
        try f.cache.put("b", original)
        try damage.apply(to: f, key: "a", original: original)
        try damage.apply(to: f, key: "b", original: original)
        // `withDeadline` wraps the answer: `.some(nil)` is "answered in time: absent".
        let a = try Self.withDeadline(10) { try f.cache.get("a") }
        let b = try Self.withDeadline(10) { try f.cache.cachedFile(for: "b") }
        #expect(a == .some(nil))
        #expect(b == .some(nil))
        #expect(f.log.warnings.count == 2)
        #expect(f.files().isEmpty, "\(f.files())")
        #expect(try f.cache.get("a") == nil)
        #expect(f.log.warnings.count == 2)
    }

    @Test("a cache directory that is a symbolic link is refused (65), never followed")
    func symlinkedDirectory() throws {
        let f = CacheFixture("cache-link")
        defer { f.remove() }
        let real = f.root + "/real"
        try FileManager.default.createDirectory(atPath: real, withIntermediateDirectories: true)
        #expect(symlink(real, f.directory) == 0)
        var caught: ResumableError?
        do { try f.cache.put("k", [1]) } catch let error as ResumableError { caught = error }
        #expect(caught?.exitCode == 65)
        #expect(try FileManager.default.contentsOfDirectory(atPath: real).isEmpty)
    }

    /// Runs `body` on another thread; fails the test (and returns `nil`) when it takes longer than `seconds`.
    static func withDeadline<T: Sendable>(_ seconds: Double, _ body: @escaping @Sendable () throws -> T) throws -> T? {
        let box = Box<T>()
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            box.set(Result { try body() })
            done.signal()
        }
        guard done.wait(timeout: .now() + seconds) == .success else {
            Issue.record("still running after \(seconds) s")
            return nil
        }
        return try box.get()?.get()
    }
}

final class Box<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Result<T, any Error>?
    func set(_ v: Result<T, any Error>) { lock.withLock { value = v } }
    func get() -> Result<T, any Error>? { lock.withLock { value } }
}
