import DurableFiles

/// The names a key's entry has on disk: the SHA-256 of the key's UTF-8 text
/// (64 hex digits), in a directory named by its first two digits.
struct EntryName: Sendable {
    /// The key as given.
    let key: String
    /// SHA-256 of the key, lowercase hex.
    let hash: String

    /// The name of `key`.
    /// - Throws: `.usage` for an empty key or one longer than ``ResultCache/maximumKeyBytes``.
    init(key: String) throws {
        let utf8 = Array(key.utf8)
        guard !utf8.isEmpty else { throw ResumableError(.usage, "a cache key cannot be empty.") }
        guard utf8.count <= ResultCache.maximumKeyBytes else {
            throw ResumableError(
                .usage,
                "a cache key has at most \(ResultCache.maximumKeyBytes) bytes, this one has \(utf8.count); hash long descriptions into the key yourself.")
        }
        self.key = key
        self.hash = utf8.withUnsafeBytes { Checksum.sha256($0) }
    }

    /// The two-digit shard directory name.
    var shard: String { String(hash.prefix(2)) }

    /// `key` shortened and with control characters shown as `?`, for messages.
    static func printable(_ key: String) -> String {
        let shown = FilePath.printable(key)
        return shown.count > 80 ? String(shown.prefix(77)) + "..." : shown
    }
}

extension ResultCache {
    /// `DIR/entries`.
    var entriesDirectory: String { FilePath.join(directory, "entries") }
    /// `DIR/locks`.
    var locksDirectory: String { FilePath.join(directory, "locks") }
    /// `DIR/tmp`: temporary files, on the same file system as the entries.
    var temporaryDirectory: String { FilePath.join(directory, "tmp") }

    /// `DIR/entries/XX`.
    func shardDirectory(_ name: EntryName) -> String { FilePath.join(entriesDirectory, name.shard) }
    /// `DIR/entries/XX/HASH.bin`: the value, byte for byte.
    func valuePath(_ name: EntryName) -> String { FilePath.join(shardDirectory(name), name.hash + ".bin") }
    /// `DIR/entries/XX/HASH.json`: the record (key, length, SHA-256); present only for a whole entry.
    func recordPath(_ name: EntryName) -> String { FilePath.join(shardDirectory(name), name.hash + ".json") }
    /// `DIR/locks/XX/HASH`: flock'd while the key is computed or written.
    func lockPath(_ name: EntryName) -> String {
        FilePath.join(FilePath.join(locksDirectory, name.shard), name.hash)
    }
}
