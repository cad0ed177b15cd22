#if canImport(Glibc)
import Glibc
#endif
import DurableFiles
import JSON
import Logging

/// What a read of an entry found.
enum Lookup {
    /// No entry (a value without its record is a write that never finished: not an entry).
    case missing
    /// A whole entry, checked; `value` holds the bytes when they were asked for.
    case valid(CheckedEntry)
    /// Something is wrong with the entry: why, and the path concerned.
    case corrupt(reason: String, path: String)
}

/// An entry that matched its record.
struct CheckedEntry {
    var record: EntryRecord
    /// The value file.
    var path: String
    /// The bytes, when the read loaded them.
    var value: [UInt8]?
}

extension ResultCache {
    /// Reads and checks the entry of `name` without taking its lock.
    /// - Parameter load: return the value's bytes (≤ ``maximumValueBytes``) rather than only checking them.
    /// - Throws: `.corrupt` when a directory of the cache is a link or a file;
    ///   `.usage` when `load` and the value is over the limit; `.io` when a read fails.
    func lookup(_ name: EntryName, load: Bool) throws -> Lookup {
        for dir in [directory, entriesDirectory, shardDirectory(name)] {
            switch FileSystem.entryType(dir) {
            case .missing: return .missing
            case .directory: continue
            case let found: throw FileSystem.misplacedEntry(dir, found: found, expected: .directory)
            }
        }
        let recordFile = recordPath(name)
        let valueFile = valuePath(name)
        if FileSystem.entryType(recordFile) == .missing { return .missing }
        let record: EntryRecord
        do {
            record = try EntryRecord.read(recordFile)
        } catch let error as ResumableError where error.code == .notFound {
            return .missing  // removed meanwhile
        } catch let error as ResumableError where error.code == .corrupt {
            return .corrupt(reason: error.message, path: recordFile)
        }
        guard record.key == name.key else {
            return .corrupt(
                reason: "\(recordFile) holds the record of another key (\"\(EntryName.printable(record.key))\"): a SHA-256 collision or a file copied or edited by hand",
                path: recordFile)
        }
        if load { try Self.checkValueSize(record.bytes, key: name.key) }
        let fd: Int32
        do {
            fd = try FileSystem.openRegularFile(valueFile, O_RDONLY)
        } catch let error as ResumableError where error.code == .corrupt || error.errno == ENOENT {
            return .corrupt(reason: error.errno == ENOENT ? "\(valueFile) is missing beside its record" : error.message, path: valueFile)
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw ResumableError.system("read the size of", path: valueFile, errno: errno) }
        guard Int64(st.st_size) == record.bytes else {
            return .corrupt(
                reason: "\(valueFile) has \(st.st_size) bytes where its record says \(record.bytes) (truncated or overwritten)",
                path: valueFile)
        }
        let sha256: String
        let bytes: [UInt8]?
        do {
            (sha256, bytes) = try Self.hashDescriptor(fd, path: valueFile, expectedBytes: record.bytes, keeping: load)
        } catch let error as ResumableError where error.code == .corrupt {
            return .corrupt(reason: error.message, path: valueFile)
        }
        guard sha256 == record.sha256 else {
            return .corrupt(
                reason: "\(valueFile) does not match its SHA-256 (\(sha256), recorded \(record.sha256)): its bytes changed on disk",
                path: valueFile)
        }
        return .valid(CheckedEntry(record: record, path: valueFile, value: bytes))
    }

    /// Under the key's lock: the entry when it is whole; a damaged one is
    /// logged as a warning naming its path, removed, and reported as `nil`.
    func validEntryUnderLock(_ name: EntryName, load: Bool) throws -> CheckedEntry? {
        switch try lookup(name, load: load) {
        case .valid(let entry): return entry
        case .missing: return nil
        case .corrupt(let reason, let path):
            logger.warning(
                "damaged cache entry removed, the value is computed again: \(reason).",
                metadata: ["path": .string(path)])
            try discard(name)
            return nil
        }
    }

    /// Reads `fd` to its end, hashing it; keeps the bytes when asked.
    /// - Throws: `.io` on a read error; `.corrupt` when it holds more or
    ///   fewer bytes than `expectedBytes` (changed while being read).
    static func hashDescriptor(_ fd: Int32, path: String, expectedBytes: Int64, keeping: Bool) throws
        -> (sha256: String, bytes: [UInt8]?)
    {
        var checksum = Checksum()
        var kept: [UInt8] = []
        if keeping { kept.reserveCapacity(Int(expectedBytes)) }
        var total: Int64 = 0
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw ResumableError.system("read", path: path, errno: errno)
            }
            if n == 0 { break }
            total += Int64(n)
            guard total <= expectedBytes else { break }
            chunk.withUnsafeBytes { checksum.update(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            if keeping { kept.append(contentsOf: chunk[0..<n]) }
        }
        guard total == expectedBytes else {
            throw ResumableError(.corrupt, "\(path) changed size while it was read.", path: path)
        }
        return (checksum.finalize(), keeping ? kept : nil)
    }
}
