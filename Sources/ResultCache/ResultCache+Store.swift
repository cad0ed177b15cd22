#if canImport(Glibc)
import Glibc
#endif
import DurableFiles
import JSON

extension ResultCache {
    /// A fresh temporary path for the key: `tmp/HASH.PID-RANDOM.SUFFIX`.
    func temporaryPath(_ name: EntryName, suffix: String) throws -> String {
        try ensureDirectory(directory)
        try ensureDirectory(temporaryDirectory)
        return FilePath.join(
            temporaryDirectory, "\(name.hash).\(getpid())-\(UInt64.random(in: 0...UInt64.max)).\(suffix)")
    }

    /// Stores `bytes` as the entry of `name`. Called with the key's lock held.
    func store(_ bytes: [UInt8], name: EntryName) throws {
        let temporary = try temporaryPath(name, suffix: "bin")
        defer { _ = unlink(temporary) }
        let file = try DurableFile.create(temporary)
        try file.write(bytes)
        try file.sync()
        try file.close()
        let sha256 = bytes.withUnsafeBytes { Checksum.sha256($0) }
        try commit(temporary, name: name, bytes: Int64(bytes.count), sha256: sha256)
    }

    /// Makes the durable file `temporary` (its bytes and SHA-256 given) the
    /// entry of `name`: the record is written to a temporary file and synced,
    /// the old entry removed (record first), then the value and the record
    /// renamed into place (record last) and the directory synced. Until the
    /// record's rename nothing of the new entry is visible; a failure before
    /// the old entry is removed leaves it whole. Called with the lock held.
    func commit(_ temporary: String, name: EntryName, bytes: Int64, sha256: String) throws {
        _ = chmod(temporary, 0o444)  // a cached value is never modified in place
        let record = EntryRecord(key: name.key, bytes: bytes, sha256: sha256, createdAt: Timestamp.now())
        let recordTemporary = try temporaryPath(name, suffix: "json")
        defer { _ = unlink(recordTemporary) }
        let file = try DurableFile.create(recordTemporary)
        try file.write(Array((record.json.serialized() + "\n").utf8))
        try file.sync()
        try file.close()
        try ensureDirectory(entriesDirectory)
        try ensureDirectory(shardDirectory(name))
        try discard(name, syncing: false)
        try FileSystem.rename(temporary, to: valuePath(name), replacing: true)
        try FileSystem.rename(recordTemporary, to: recordPath(name), replacing: true)
        try FileSystem.sync(shardDirectory(name))
    }

    /// Removes the entry of `name` — record first, then value, whatever they
    /// are (a link or a directory is removed itself, never followed).
    /// - Returns: whether anything was there.
    @discardableResult
    func discard(_ name: EntryName, syncing: Bool = true) throws -> Bool {
        let shard = shardDirectory(name)
        guard FileSystem.entryType(shard) == .directory else { return false }
        var found = false
        for path in [recordPath(name), valuePath(name)] where FileSystem.entryType(path) != .missing {
            found = true
            try FileSystem.removeTree(path)
        }
        if found && syncing { try FileSystem.sync(shard) }
        return found
    }
}
