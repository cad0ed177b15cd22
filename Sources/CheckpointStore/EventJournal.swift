#if canImport(Glibc)
import Glibc
#endif
import DurableFiles
public import JSON

/// The run's append-only journal, `events.jsonl`: one JSON object a line
/// with at least `time`, `source` (the writer: `store`, `training`,
/// `supervisor`, …) and `event` (a name in that writer's namespace,
/// `JournalEvent`). Read it typed with `entries()` and summarise it with
/// `RunHistory`.
///
/// Each line is written with one `write` in append mode, so lines of
/// concurrent writers never interleave, and fsynced. A line cut by a crash or
/// a full disk is ignored by readers, and only that line: an append that
/// finds the file not ending in a newline starts on a new line, and an append
/// cut short is truncated away when no other writer appended meanwhile.
///
/// The journal is never reached through a symbolic link and never blocks: a
/// link, FIFO or directory in its place makes `append` throw at once.
public struct EventJournal: Sendable {
    /// The journal file.
    public let path: String

    public init(runDirectory: String) { path = FilePath.join(runDirectory, "events.jsonl") }

    /// Appends an event of its writer's vocabulary.
    public func append<Name: JournalEventName>(_ event: Name, _ fields: [String: JSONValue] = [:]) throws {
        try append(source: Name.source, event: event.rawValue, fields)
    }

    /// Appends an event of `source` named `event` (for writers whose names are not a `JournalEventName`).
    public func append(source: JournalSource, event: String, _ fields: [String: JSONValue] = [:]) throws {
        var o = fields
        o["event"] = .string(event)
        o["source"] = .string(source.rawValue)
        o["time"] = .string(Timestamp.now())
        var line = Array((JSONValue.object(o).serialized() + "\n").utf8)
        let fd = try FileSystem.openRegularFile(path, O_RDWR | O_CREAT | O_APPEND)
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw ResumableError(.io, "cannot read the size of \(path): \(String(cString: strerror(errno))).", path: path)
        }
        let sizeBefore = st.st_size
        if sizeBefore > 0 {
            var last: UInt8 = 0
            if pread(fd, &last, 1, sizeBefore - 1) == 1, last != 0x0A { line.insert(0x0A, at: 0) }
        }
        let written = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == line.count else {
            let code = written < 0 ? errno : ENOSPC
            // Take the torn line back, unless another writer appended after it.
            if written > 0, fstat(fd, &st) == 0, st.st_size == sizeBefore + written { _ = ftruncate(fd, sizeBefore) }
            throw ResumableError(.io, "cannot append to \(path): \(String(cString: strerror(code))).", path: path)
        }
        _ = fsync(fd)
    }

    /// Every complete event, oldest first. Lines that are not JSON objects are skipped.
    public func read() throws -> [JSONValue] {
        guard FileSystem.exists(path) else { return [] }
        let bytes = try FileSystem.readFile(path, limit: 1 << 30)
        var events: [JSONValue] = []
        for line in bytes.split(separator: 0x0A) {
            if let v = try? JSONParser().parse(Array(line)), case .object = v { events.append(v) }
        }
        return events
    }

    /// Every complete event, typed, oldest first (lines without a string `event` are skipped).
    public func entries() throws -> [JournalEntry] {
        try read().compactMap(JournalEntry.init(json:))
    }
}
