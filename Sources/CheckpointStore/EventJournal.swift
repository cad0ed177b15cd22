#if canImport(Glibc)
import Glibc
#endif
import DurableFiles
public import JSON

/// The run's append-only journal, `events.jsonl`: one JSON object a line
/// with at least `time` and `event` (start, save, resume, restart, preempt,
/// fail, finish, prune, edit).
///
/// Each line is written with one `write` in append mode, so lines of
/// concurrent writers never interleave, and fsynced. A line cut by a crash is
/// ignored by readers.
public struct EventJournal: Sendable {
    /// The journal file.
    public let path: String

    public init(runDirectory: String) { path = FilePath.join(runDirectory, "events.jsonl") }

    /// Appends an event.
    public func append(_ event: String, _ fields: [String: JSONValue] = [:]) throws {
        var o = fields
        o["event"] = .string(event)
        o["time"] = .string(Timestamp.now())
        let line = Array((JSONValue.object(o).serialized() + "\n").utf8)
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ResumableError(.io, "cannot open \(path) to record an event: \(String(cString: strerror(errno))).", path: path) }
        defer { close(fd) }
        let written = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == line.count else {
            throw ResumableError(.io, "cannot append to \(path): \(String(cString: strerror(errno))).", path: path)
        }
        _ = fsync(fd)
    }

    /// Every complete event, oldest first. Lines that are not JSON objects are skipped.
    public func read() throws -> [JSONValue] {
        guard FileSystem.exists(path) else { return [] }
        let bytes = try FileSystem.readFile(path, limit: 1 << 30, regularOnly: true)
        var events: [JSONValue] = []
        for line in bytes.split(separator: 0x0A) {
            if let v = try? JSONParser().parse(Array(line)), case .object = v { events.append(v) }
        }
        return events
    }
}
