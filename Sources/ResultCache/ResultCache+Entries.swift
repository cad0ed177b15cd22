import DurableFiles
import Logging

extension ResultCache {
    /// One cached value, as its record describes it.
    public struct Entry: Sendable, Hashable {
        /// The key.
        public var key: String
        /// The value's length in bytes.
        public var bytes: Int64
        /// The value's SHA-256, lowercase hex.
        public var sha256: String
        /// When it was stored (ISO 8601, UTC).
        public var createdAt: String
        /// The file holding the value (read-only; never modify it).
        public var path: String
    }

    /// The entries of the cache, sorted by key, from their records only (the
    /// values are not read: ``cachedFile(for:)`` checks one). A record that
    /// cannot be read is logged as a warning and left out; nothing is removed.
    /// - Throws: `.corrupt` when a directory of the cache is a link or a file; `.io` when one cannot be listed.
    public func entries() throws -> [Entry] {
        for dir in [directory, entriesDirectory] {
            switch FileSystem.entryType(dir) {
            case .missing: return []
            case .directory: continue
            case let found: throw FileSystem.misplacedEntry(dir, found: found, expected: .directory)
            }
        }
        var found: [Entry] = []
        for shard in try FileSystem.contents(of: entriesDirectory).sorted() {
            let shardPath = FilePath.join(entriesDirectory, shard)
            guard FileSystem.entryType(shardPath) == .directory else { continue }
            for file in try FileSystem.contents(of: shardPath) where file.hasSuffix(".json") {
                let path = FilePath.join(shardPath, file)
                let hash = String(file.dropLast(5))
                do {
                    let record = try EntryRecord.read(path)
                    let name = try EntryName(key: record.key)
                    guard name.hash == hash else {
                        throw ResumableError(.corrupt, "\(path) holds the record of another key", path: path)
                    }
                    found.append(
                        Entry(key: record.key, bytes: record.bytes, sha256: record.sha256, createdAt: record.createdAt,
                              path: valuePath(name)))
                } catch let error as ResumableError {
                    logger.warning("unreadable cache record left out: \(error.message)", metadata: ["path": .string(path)])
                }
            }
        }
        return found.sorted { $0.key < $1.key }
    }
}
