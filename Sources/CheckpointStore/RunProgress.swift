#if canImport(Glibc)
import Glibc
#endif
import DurableFiles
package import JSON

/// What a job reports about its own progress, kept in `RUN/progress.json`:
/// `resumable progress --epoch 3 --of 8` writes it, `resumable status`
/// shows it, and a pipeline's ledger can copy it.
///
/// The file is replaced atomically (a temporary file beside it, fsync,
/// rename), so a reader sees the old report or the new one, never a torn
/// one. Writing it does not take the run lock: it touches no file a
/// checkpoint commit writes (`checkpoints/`, `run.json`, `events.jsonl`),
/// the rename is atomic, and the job that reports its progress usually
/// holds the lock itself (under `resumable run`), so waiting for it would
/// deadlock. Two reporters racing leave the last rename's report whole.
package struct RunProgress: Sendable, Equatable {
    /// When it was written (RFC 3339 UTC).
    package var updatedAt: String
    /// The epoch reached (completed epochs, or the one under way: the job's choice).
    package var epoch: Int64
    /// How many epochs there are.
    package var of: Int64
    /// The step, when the job reports one.
    package var step: Int64?
    /// Further numbers the job reports (`loss`, `samples`…).
    package var counters: [String: Double]
    /// The process that wrote it.
    package var pid: Int32

    /// The file's name inside the run directory.
    package static let fileName = "progress.json"
    /// Larger files are refused as damaged.
    package static let maxBytes = 1 << 20
    /// At most this many counters.
    package static let maxCounters = 256

    package init(epoch: Int64, of: Int64, step: Int64?, counters: [String: Double], pid: Int32 = getpid(), updatedAt: String = Timestamp.now()) {
        self.updatedAt = updatedAt
        self.epoch = epoch
        self.of = of
        self.step = step
        self.counters = counters
        self.pid = pid
    }

    /// `RUN/progress.json`.
    package static func path(in runDirectory: String) -> String { FilePath.join(runDirectory, fileName) }

    /// The report as JSON (the file's content).
    package var json: JSONValue {
        .object([
            "updated_at": .string(updatedAt), "epoch": .int(epoch), "of": .int(of), "step": step.map(JSONValue.int) ?? .null,
            "counters": .object(counters.mapValues(JSONValue.number)), "pid": .int(Int64(pid)),
        ])
    }

    /// The share of epochs done, 0…100, truncated (`3 of 8` is 37).
    package var percent: Int64 { of > 0 ? min(100, max(0, epoch) * 100 / of) : 0 }

    /// `epoch 3 of 8 (37 %), step 1200`.
    package var summary: String {
        var text = "epoch \(epoch) of \(of) (\(percent) %)"
        if let step { text += ", step \(step)" }
        return text
    }

    /// Reads a report from JSON.
    /// - Throws: `.corrupt` naming what is wrong.
    package init(json: JSONValue, path: String) throws {
        func invalid(_ reason: String) -> ResumableError { ResumableError(.corrupt, "\(path): \(reason).", path: path) }
        guard let o = json.objectValue else { throw invalid("not a JSON object") }
        guard let epoch = o["epoch"]?.intValue, let of = o["of"]?.intValue else { throw invalid("`epoch` and `of` must be integers") }
        guard let updatedAt = o["updated_at"]?.stringValue else { throw invalid("`updated_at` must be a string") }
        var step: Int64?
        if let value = o["step"], value != .null {
            guard let s = value.intValue else { throw invalid("`step` must be an integer") }
            step = s
        }
        var counters: [String: Double] = [:]
        if let value = o["counters"], value != .null {
            guard let object = value.objectValue else { throw invalid("`counters` must be an object") }
            for (key, number) in object {
                guard let d = number.doubleValue else { throw invalid("counter `\(key)` must be a number") }
                counters[key] = d
            }
        }
        let pid = o["pid"]?.intValue.flatMap { Int32(exactly: $0) } ?? 0
        self.init(epoch: epoch, of: of, step: step, counters: counters, pid: pid, updatedAt: updatedAt)
    }

    /// Writes the report to `RUN/progress.json` atomically (temporary file,
    /// fsync, rename, fsync of the directory), creating the run directory
    /// when it does not exist yet. A `progress.json` that is a symbolic link,
    /// a directory or a special file is refused, never written through.
    /// - Throws: `.corrupt` for a misplaced entry; I/O errors.
    package func write(to runDirectory: String) throws {
        switch FileSystem.entryType(runDirectory) {
        case .missing: try FileSystem.createDirectory(runDirectory)
        case .directory: break
        case .symbolicLink where FileSystem.isDirectory(runDirectory): break  // the run directory itself may be a link
        case let found: throw FileSystem.misplacedEntry(runDirectory, found: found, expected: .directory)
        }
        let path = Self.path(in: runDirectory)
        try FileSystem.requireMissingOr(.regular, path)
        try FileSystem.writeAtomically(Array((json.prettyPrinted()).utf8), to: path)
    }

    /// What `progress.json` holds.
    package enum Reading: Sendable {
        /// No report: the job never reported progress.
        case none
        /// A readable report.
        case report(RunProgress)
        /// A file that cannot be read as a report, with the reason.
        case damaged(String)
    }

    /// Reads `RUN/progress.json`, never through a symbolic link and never throwing.
    package static func read(from runDirectory: String) -> Reading {
        let path = path(in: runDirectory)
        guard FileSystem.entryType(path) != .missing else { return .none }
        do {
            let bytes = try FileSystem.readFile(path, limit: maxBytes)
            let json: JSONValue
            do {
                json = try JSONParser(maxDepth: 8).parse(bytes)
            } catch {
                return .damaged("\(path) is not valid JSON (\(error))")
            }
            return .report(try RunProgress(json: json, path: path))
        } catch let error as ResumableError {
            return .damaged(error.message)
        } catch {
            return .damaged("\(path): \(error)")
        }
    }
}

/// Adds the `progress` section to `resumable status` when the run has a
/// `progress.json`: "epoch 3 of 8 (37 %), updated 12s ago", the step and the
/// counters; a damaged file is shown as damaged (JSON: `{"damaged": REASON}`).
package struct ProgressStatusContributor: RunStatusContributor {
    package init() {}

    package func section(for store: CheckpointStore, status: RunStatus) throws -> RunStatus.Section? {
        Self.section(RunProgress.read(from: store.directory))
    }

    package static func section(_ reading: RunProgress.Reading, now: Double = Timestamp.currentTime()) -> RunStatus.Section? {
        switch reading {
        case .none:
            return nil
        case .damaged(let reason):
            return RunStatus.Section(
                id: "progress", title: "Progress", rows: [RunStatus.Row("damaged", reason)], json: ["damaged": .string(reason)])
        case .report(let progress):
            var rows = [
                RunStatus.Row(
                    "reported", "epoch \(progress.epoch) of \(progress.of) (\(progress.percent) %), updated \(HumanFormat.age(of: progress.updatedAt, now: now)) ago")
            ]
            if let step = progress.step { rows.append(RunStatus.Row("step", String(step))) }
            if !progress.counters.isEmpty { rows.append(RunStatus.Row("counters", HumanFormat.metrics(progress.counters))) }
            return RunStatus.Section(id: "progress", title: "Progress", rows: rows, json: progress.json)
        }
    }
}
