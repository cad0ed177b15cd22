import DurableFiles
import Glibc

/// A sweep's directory, `RUN/sweeps/NAME`: the unit records, the units' run
/// directories, the claims and the logs.
///
/// ```
/// units/KEY.json    the unit's record (UnitRecord)
/// units/KEY/        the unit's own run directory (RESUMABLE_RUN_DIR)
/// claims/KEY        flock'd by the process running the unit (UnitClaim)
/// logs/KEY.log      the unit's stdout and stderr
/// ```
///
/// It is a programmer error to pass a key that is not 16 lowercase hex digits
/// (``SweepUnit/isKey(_:)``).
public struct SweepStore: Sendable, Hashable {
    /// `RUN/sweeps/NAME`.
    public let directory: String

    public init(directory: String) { self.directory = directory }

    /// The store of `spec`'s sweep directory.
    public init(spec: SweepSpec) { self.init(directory: spec.sweepDirectory) }

    public var unitsDirectory: String { directory + "/units" }
    public var claimsDirectory: String { directory + "/claims" }
    public var logsDirectory: String { directory + "/logs" }

    /// `units/KEY.json`.
    public func recordPath(_ key: String) -> String { unitsDirectory + "/" + checked(key) + ".json" }
    /// `units/KEY/`, the unit's own run directory.
    public func unitDirectory(_ key: String) -> String { unitsDirectory + "/" + checked(key) }
    /// `claims/KEY`.
    public func claimPath(_ key: String) -> String { claimsDirectory + "/" + checked(key) }
    /// `logs/KEY.log`.
    public func logPath(_ key: String) -> String { directory + "/" + Self.relativeLogPath(key) }

    /// `logs/KEY.log`, relative to the sweep directory: the record's `log`.
    public static func relativeLogPath(_ key: String) -> String { "logs/" + key + ".log" }

    private func checked(_ key: String) -> String {
        precondition(SweepUnit.isKey(key), "not a unit key: \(key)")
        return key
    }

    /// Creates the sweep directory and its `units`, `claims` and `logs`
    /// (the run directory and `sweeps` too, when missing). An existing one
    /// must be a real directory, not a link.
    /// - Throws: `.corrupt` for a link or file in the way; `.cannotCreate`/`.io`.
    public func createDirectories() throws {
        try FileSystem.createDirectory(FilePath.parent(of: directory))
        for path in [directory, unitsDirectory, claimsDirectory, logsDirectory] { try FileSystem.createOwnedDirectory(path) }
    }

    /// The record of `key`; `nil` when it has none yet.
    /// - Throws: as ``UnitRecord/read(path:)`` for a damaged record.
    public func record(_ key: String) throws -> UnitRecord? {
        let path = recordPath(key)
        if FileSystem.entryType(path) == .missing { return nil }
        return try UnitRecord.read(path: path)
    }

    /// Writes `record` to `units/KEY.json` atomically, creating the directories first.
    public func save(_ record: UnitRecord) throws {
        try createDirectories()
        try record.write(to: recordPath(record.key))
    }

    /// Every record in `units/`, sorted by key: a damaged one is returned as
    /// ``StoredRecord/damaged(key:path:reason:)``, not thrown. Other names
    /// (the units' directories, a writer's temporary files) are not records.
    /// - Throws: `.corrupt` when `units` is a link or file; an error listing it.
    public func records() throws -> [StoredRecord] {
        switch FileSystem.entryType(unitsDirectory) {
        case .missing: return []
        case .directory: break
        case let found: throw FileSystem.misplacedEntry(unitsDirectory, found: found, expected: .directory)
        }
        let keys = try FileSystem.contents(of: unitsDirectory).compactMap { name -> String? in
            guard name.hasSuffix(".json") else { return nil }
            let key = String(name.dropLast(5))
            return SweepUnit.isKey(key) ? key : nil
        }.sorted()
        if keys.isEmpty { return [] }
        let read = Parallel.map(keys) { key in try UnitRecord.read(path: recordPath(key)) }
        return zip(keys, read).map { key, result in
            switch result {
            case .success(let record): return .valid(record)
            case .failure(let error):
                let reason = (error as? ResumableError)?.message ?? "\(error)"
                return .damaged(key: key, path: recordPath(key), reason: reason)
            }
        }
    }

    /// Claims `key` for the calling process: an exclusive, non-blocking
    /// `flock` on `claims/KEY` (created when missing, never through a link).
    ///
    /// Only the holder of a unit's claim runs it. The claim is released by
    /// ``UnitClaim/release()``, when the claim is deallocated, or by the
    /// kernel when the process dies. Claim files are never removed (removing
    /// a locked file would let two processes lock two different files).
    /// A second claim of the same key fails while the first is held, in this
    /// process as in another.
    /// - Returns: the claim, or `nil` when another holder has it.
    /// - Throws: `.corrupt` for a link or special file at `claims/KEY`; errors creating it.
    public func claim(_ key: String) throws -> UnitClaim? {
        try createDirectories()
        let path = claimPath(key)
        let fd = try FileSystem.openRegularFile(path, O_RDWR | O_CREAT)
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            if code == EINTR { continue }
            close(fd)
            if code == EWOULDBLOCK { return nil }
            throw ResumableError(.io, "Cannot lock \(path): \(String(cString: strerror(code))).", path: path, errno: code)
        }
        return UnitClaim(key: key, path: path, descriptor: fd)
    }
}

/// A record read from a sweep's `units/`, or why it could not be.
public enum StoredRecord: Sendable {
    case valid(UnitRecord)
    /// `KEY.json` is not a valid record (invalid JSON, a wrong type, a
    /// link or FIFO in its place…): left alone and reported.
    case damaged(key: String, path: String, reason: String)

    public var key: String {
        switch self {
        case .valid(let record): return record.key
        case .damaged(let key, _, _): return key
        }
    }

    /// The record, when it is valid.
    public var record: UnitRecord? {
        if case .valid(let record) = self { return record }
        return nil
    }
}
