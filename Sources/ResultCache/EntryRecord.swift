#if canImport(Glibc)
import Glibc
#endif
import DurableFiles
import JSON

/// `entries/XX/HASH.json`: what a value must be. Written last, removed
/// first, so an entry exists exactly when its record does.
///
/// `{"schema_version": 1, "key": "…", "bytes": N, "sha256": "…", "created_at": "…"}`
struct EntryRecord: Sendable, Equatable {
    static let schemaVersion: Int64 = 1
    /// The largest record read (a key of 4 KiB escaped stays far below).
    static let maximumBytes = 64 << 10

    var key: String
    var bytes: Int64
    var sha256: String
    var createdAt: String

    var json: JSONValue {
        .object([
            "schema_version": .int(Self.schemaVersion), "key": .string(key), "bytes": .int(bytes),
            "sha256": .string(sha256), "created_at": .string(createdAt),
        ])
    }

    init(key: String, bytes: Int64, sha256: String, createdAt: String) {
        self.key = key
        self.bytes = bytes
        self.sha256 = sha256
        self.createdAt = createdAt
    }

    /// Reads a record strictly: a regular file (never a link, FIFO or
    /// directory), at most ``maximumBytes``, valid JSON with every field of the right type.
    /// - Throws: `.corrupt` for anything else; `.unsupportedVersion` for a
    ///   newer schema; `.notFound` when it is missing.
    static func read(_ path: String) throws -> EntryRecord {
        let data: [UInt8]
        do {
            data = try FileSystem.readFile(path, limit: maximumBytes)
        } catch let error as ResumableError where error.errno == ENOENT {
            throw ResumableError(.notFound, "\(path) does not exist.", path: path)
        }
        let value: JSONValue
        do {
            value = try JSONParser(maxDepth: 4).parse(data)
        } catch {
            throw ResumableError(.corrupt, "\(path) is not valid JSON (\(error))", path: path, cause: error)
        }
        guard let version = value["schema_version"]?.intValue else {
            throw ResumableError(.corrupt, "\(path) has no schema_version", path: path)
        }
        guard version == schemaVersion else {
            throw ResumableError(
                .unsupportedVersion, "\(path) was written by a newer resumable (schema_version \(version)); upgrade to read it.",
                path: path)
        }
        guard let key = value["key"]?.stringValue, let bytes = value["bytes"]?.intValue, bytes >= 0,
            let sha256 = value["sha256"]?.stringValue, sha256.utf8.count == 64,
            sha256.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }),
            let createdAt = value["created_at"]?.stringValue
        else {
            throw ResumableError(.corrupt, "\(path) is not a cache record (a field is missing or of the wrong type)", path: path)
        }
        return EntryRecord(key: key, bytes: bytes, sha256: sha256, createdAt: createdAt)
    }
}
