#if canImport(Glibc)
import Glibc
#endif
import DurableFiles
public import Logging

/// A content-addressed cache of computed values on the local file system:
/// a value is computed once per key, stored durably, and reused by every
/// caller — thread or process — that asks for the same key (docs/CACHE.md).
///
/// ```swift
/// let cache = ResultCache(directory: "runs/ablation/cache")
/// let features = try cache.value(for: "features v3 dataset=\(digest) layers=4") {
///     try extractFeatures(...)   // runs once; every later caller gets the stored bytes
/// }
/// ```
///
/// **Guarantees.** An entry becomes visible only once it is whole and durable
/// (temporary file, fsync, rename, fsync of the directory), so a crash or an
/// I/O error while storing leaves the previous entry or none, never a partial
/// one. Every read checks the entry against its record (the key's own text,
/// the length and the SHA-256 of the value): a damaged entry — flipped bytes,
/// truncated, another key's record, a symbolic link, FIFO or directory in its
/// place — is never returned; it is logged as a warning naming the path,
/// removed, and computed again. While a key is computed its lock
/// (`locks/XX/HASH`, an exclusive `flock`) is held, so two threads or two
/// processes asking for a missing key compute it once: the second waits and
/// then reads the first one's value. A `compute` that throws stores nothing.
///
/// Keys are any non-empty string of at most ``maximumKeyBytes`` UTF-8 bytes;
/// the entry's file name is the SHA-256 of the key. Values go through memory
/// up to ``maximumValueBytes``; larger artefacts use the file API
/// (``file(for:compute:)``, ``cachedFile(for:)``, ``put(_:contentsOf:)``),
/// which never loads them.
///
/// A `ResultCache` holds no state of its own besides its configuration, so
/// it is `Sendable` and may be shared by any number of threads.
public final class ResultCache: Sendable {
    /// The cache directory (made on the first write; never used through a symbolic link).
    public let directory: String
    /// How long a caller waits, in seconds, for another thread or process
    /// computing the same key (`nil`: as long as it takes).
    public let lockTimeout: Double?
    /// Receives a warning for every damaged entry found, naming its path.
    public let logger: Logger

    /// The longest key, in UTF-8 bytes.
    public static let maximumKeyBytes = 4096
    /// The largest value the in-memory API (`value(for:)`, `get`, `put`) holds: 1 GiB.
    public static let maximumValueBytes: Int64 = 1 << 30

    /// A cache in `directory`. Nothing is created until the first write.
    /// - Parameters:
    ///   - directory: where the entries live; it must not be a symbolic link.
    ///   - lockTimeout: seconds to wait for another computation of the same
    ///     key before failing with `.locked` (exit 75); `nil` waits as long as it takes.
    ///   - logger: receives the warnings about damaged entries.
    public init(directory: String, lockTimeout: Double? = nil, logger: Logger = Logger(label: "resumable.cache")) {
        self.directory = directory
        self.lockTimeout = lockTimeout
        self.logger = logger
    }

    /// The value stored for `key`, computing and storing it first when there
    /// is none (or when the stored one is damaged).
    ///
    /// The cached value is returned without locking. A missing one is
    /// computed under the key's lock; a caller that finds the lock taken waits
    /// (up to ``lockTimeout``) and then returns the value the holder stored.
    /// It is a programmer error to ask for the same key from inside its own
    /// `compute` (the second lock waits for the first forever).
    /// - Parameters:
    ///   - key: names the value; callers asking for the same key get the same bytes.
    ///   - compute: makes the value; called at most once per missing key across
    ///     threads and processes. If it throws, nothing is stored and the error
    ///     is rethrown.
    /// - Throws: what `compute` throws; `.usage` for an empty or too long key or
    ///   a value over ``maximumValueBytes``; `.locked` after ``lockTimeout``;
    ///   `.io`/`.cannotCreate` when the entry cannot be written; `.corrupt` when a
    ///   directory of the cache is a link or a file.
    public func value(for key: String, compute: () throws -> [UInt8]) throws -> [UInt8] {
        let name = try EntryName(key: key)
        if case .valid(let entry) = try lookup(name, load: true) { return entry.value ?? [] }
        return try withKeyLock(name) {
            if let value = try validEntryUnderLock(name, load: true)?.value { return value }
            let value = try compute()
            try Self.checkValueSize(Int64(value.count), key: key)
            try store(value, name: name)
            return value
        }
    }

    /// The value stored for `key`, or `nil` when there is none. A damaged
    /// entry is logged, removed, and reported as `nil`.
    /// - Throws: `.usage` for a bad key or an entry over ``maximumValueBytes``
    ///   (read it with ``cachedFile(for:)``); `.io` when it cannot be read.
    public func get(_ key: String) throws -> [UInt8]? {
        let name = try EntryName(key: key)
        switch try lookup(name, load: true) {
        case .valid(let entry): return entry.value ?? []
        case .missing: return nil
        case .corrupt: return try withKeyLock(name) { try validEntryUnderLock(name, load: true)?.value }
        }
    }

    /// Stores `bytes` as the value of `key`, replacing any value it had.
    ///
    /// Waits for a computation of the same key in progress. A failure leaves
    /// the previous entry or none, never a partial one.
    /// - Throws: `.usage` for a bad key or a value over ``maximumValueBytes``;
    ///   `.io`/`.cannotCreate` when it cannot be written; `.locked` after ``lockTimeout``.
    public func put(_ key: String, _ bytes: [UInt8]) throws {
        let name = try EntryName(key: key)
        try Self.checkValueSize(Int64(bytes.count), key: key)
        try withKeyLock(name) { try store(bytes, name: name) }
    }

    /// Removes the value of `key`.
    /// - Returns: whether there was one (a damaged one counts).
    /// - Throws: `.usage` for a bad key; `.io` when it cannot be removed; `.locked` after ``lockTimeout``.
    @discardableResult
    public func remove(_ key: String) throws -> Bool {
        let name = try EntryName(key: key)
        guard FileSystem.entryType(directory) != .missing else { return false }
        return try withKeyLock(name) { try discard(name) }
    }

    static func checkValueSize(_ bytes: Int64, key: String) throws {
        guard bytes <= maximumValueBytes else {
            throw ResumableError(
                .usage,
                "the value for the key \"\(EntryName.printable(key))\" has \(bytes) bytes, more than the \(maximumValueBytes) the in-memory cache API holds; use file(for:compute:) or put(_:contentsOf:), which stream it.")
        }
    }
}
