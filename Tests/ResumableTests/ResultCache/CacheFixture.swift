#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import Resumable
import Synchronization

/// A fresh cache in a temporary directory, with a logger that records what
/// the cache warns about.
struct CacheFixture {
    let root: String
    let directory: String
    let log = RecordedLog()
    let cache: ResultCache

    init(_ label: String = "cache", lockTimeout: Double? = nil) {
        root = TestSupport.temporaryDirectory(label)
        directory = root + "/cache"
        let log = self.log
        let logger = Logger(label: "test.cache") { _ in RecordingLogHandler(log: log) }
        cache = ResultCache(directory: directory, lockTimeout: lockTimeout, logger: logger)
    }

    /// Another cache object on the same directory (as another worker would have).
    func sibling(lockTimeout: Double? = nil) -> ResultCache {
        ResultCache(directory: directory, lockTimeout: lockTimeout, logger: cache.logger)
    }

    /// The entry files of a key: the value and its record.
    func paths(of key: String) -> (value: String, record: String) {
        let hash = Array(key.utf8).withUnsafeBytes { Checksum.sha256($0) }
        let shard = directory + "/entries/" + hash.prefix(2) + "/" + hash
        return (shard + ".bin", shard + ".json")
    }

    /// Every file under `entries/` and `tmp/` (the lock files excepted).
    func files() -> [String] {
        var found: [String] = []
        for top in ["entries", "tmp"] {
            let base = directory + "/" + top
            guard let walker = FileManager.default.enumerator(atPath: base) else { continue }
            while let name = walker.nextObject() as? String {
                var isDirectory: ObjCBool = false
                if FileManager.default.fileExists(atPath: base + "/" + name, isDirectory: &isDirectory), isDirectory.boolValue { continue }
                found.append(top + "/" + name)
            }
        }
        return found.sorted()
    }

    /// Replaces a (read-only) file's bytes.
    static func overwrite(_ path: String, with bytes: [UInt8]) throws {
        chmod(path, 0o644)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    func remove() { try? FileManager.default.removeItem(atPath: root) }
}

/// Messages logged through a `RecordingLogHandler`.
final class RecordedLog: Sendable {
    private let lines = Mutex<[(level: Logger.Level, text: String)]>([])

    func append(_ level: Logger.Level, _ text: String) { lines.withLock { $0.append((level, text)) } }

    /// The warnings, each with its metadata appended (`path=…`).
    var warnings: [String] { lines.withLock { $0.filter { $0.level == .warning }.map(\.text) } }
}

struct RecordingLogHandler: LogHandler {
    let log: RecordedLog
    var logLevel: Logger.Level = .trace
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        let suffix = merged.keys.sorted().map { " \($0)=\(merged[$0]!)" }.joined()
        log.append(event.level, "\(event.message)\(suffix)")
    }
}

/// Counts calls from several threads.
final class CallCounter: Sendable {
    private let value = Mutex(0)
    func increment() { value.withLock { $0 += 1 } }
    var count: Int { value.withLock { $0 } }
}
