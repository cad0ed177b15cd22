public import JSON
import CheckpointStore
import DurableFiles
import Glibc

/// Where every stage of a pipeline run stands, as `resumable pipeline status`
/// shows it: built from the pipeline file (or the ledger's outline), the
/// ledger and the stages' own run directories, read only — nothing is
/// written, no lock is taken.
///
/// Build one with ``load(path:)`` (a pipeline file or a pipeline run
/// directory) or ``make(spec:ledger:)``; ``json`` is the documented
/// `--json` form (docs/PIPELINES.md, "pipeline status --json").
public struct PipelineStatus: Sendable {
    /// Where the list of stages came from.
    public enum Source: String, Sendable {
        /// The pipeline file: the verdict compares fingerprints (``PipelinePlan``).
        case file
        /// The ledger's outline (`"pipeline"` in `stages.json`): the verdict follows the statuses.
        case outline
        /// Neither: the stages the ledger records, by name.
        case ledger
    }

    /// The `pipeline run` holding the run's lock now.
    public struct Running: Sendable, Hashable {
        public var pid: Int32
        public var host: String
        public var startedAt: String
        public var command: String
    }

    /// A stage's newest readable checkpoint.
    public struct LatestCheckpoint: Sendable, Hashable {
        public var step: Int64
        public var epoch: Int64
        public var path: String
    }

    /// Where a stage's progress was read from.
    public enum ProgressSource: String, Sendable {
        /// `{run}/stages/NAME/progress.json`, written by the stage while it runs.
        case live
        /// The ledger record's `progress`, copied when the attempt ended.
        case ledger
        /// The stage's latest checkpoint (its epoch and step).
        case checkpoint
    }

    /// One stage.
    public struct Stage: Sendable {
        public var name: String
        public var needs: [String]
        public var optional: Bool
        /// The status a reader should believe (`in_progress` of a process that is gone is `interrupted`).
        public var status: StageStatus
        /// The status as the ledger records it.
        public var recordedStatus: StageStatus
        /// The process that set `in_progress`, as recorded.
        public var owner: StageOwner?
        /// What the stage reported: `epoch`, `of`, `step` and counters; `nil` when nothing is known.
        public var progress: [String: JSONValue]?
        public var progressSource: ProgressSource?
        public var attempts: Int
        public var exitCode: Int32?
        public var outputs: [StageOutput]
        public var startedAt: String?
        public var completedAt: String?
        /// The last attempt's duration: ended − started, or now − started while it runs.
        public var durationSeconds: Double?
        /// The stage's run directory, `{run}/stages/NAME`.
        public var directory: String
        public var latestCheckpoint: LatestCheckpoint?
        /// Tracker run ids (`wandb`, `mlflow`) from the stage's `run.json` and latest checkpoint.
        public var trackers: [String: String]
        public var errorTail: [String]
        /// What is wrong with the stage's directory (a link, a file, a damaged `run.json`…); shown, never fatal.
        public var problems: [String]

        /// The progress in a few words: `epoch 3/8`, `step 1200`, `epoch 2 (checkpoint)`; `""` when unknown.
        public var progressText: String {
            guard let progress else { return "" }
            var text = ""
            if let epoch = progress["epoch"]?.intValue {
                text = "epoch \(epoch)"
                if let of = progress["of"]?.intValue { text += "/\(of)" }
            } else if let step = progress["step"]?.intValue {
                text = "step \(step)"
            }
            if !text.isEmpty, progressSource == .checkpoint { text += " (checkpoint)" }
            return text
        }
    }

    /// A stage that must run next, and why.
    public struct Next: Sendable, Hashable {
        public var stage: String
        public var reason: String

        public init(stage: String, reason: String) {
            self.stage = stage
            self.reason = reason
        }
    }

    /// The pipeline's name.
    public var name: String
    /// The pipeline file (absolute when known), `nil` when unknown.
    public var file: String?
    /// The pipeline run directory.
    public var run: String
    public var source: Source
    /// Whether `stages.json` exists (a pipeline never run has none).
    public var ledgerFound: Bool
    /// The `pipeline run` holding `{run}/.lock`, if a live one does.
    public var running: Running?
    /// The stages in dependency order.
    public var stages: [Stage]
    /// The stages that must run, in order, with one reason each.
    public var next: [Next]
    /// Whether every stage is completed and up to date.
    public var complete: Bool
    /// Things the reader should know: the file no longer parses, stages the ledger has that the pipeline has not…
    public var notes: [String]

    /// The directory of stage `name` in `run`.
    public static func stageDirectory(_ name: String, run: String) -> String { run + "/stages/" + name }

    /// Whether `directory` is a pipeline run directory rather than a checkpoint
    /// run: something stands at `stages.json`, and there is neither `run.json` nor `checkpoints/`.
    public static func isPipelineRunDirectory(_ directory: String) -> Bool {
        FileSystem.entryType(StageLedger.path(in: directory)) != .missing
            && FileSystem.entryType(FilePath.join(directory, "run.json")) == .missing
            && FileSystem.entryType(FilePath.join(directory, "checkpoints")) == .missing
    }

    /// The status of a pipeline file or a pipeline run directory.
    ///
    /// A regular file (or a link to one) is a pipeline file; a directory with
    /// `stages.json` is a run, shown from its ledger's outline — or from the
    /// outline's file when it still parses and names this run directory.
    /// - Throws: `.notFound` (66) for nothing at `path`; `.usage` (64) for a
    ///   path that is neither; what ``PipelineSpec/load(path:)`` and
    ///   ``StageLedger/read(runDirectory:)`` throw (64, 65 naming the path).
    public static func load(path: String, now: Double? = nil) throws -> PipelineStatus {
        let now = now ?? Timestamp.currentTime()
        var st = stat()
        guard stat(path, &st) == 0 else {
            if FileSystem.entryType(path) == .symbolicLink {
                throw ResumableError(.notFound, "\(path) is a symbolic link to nothing; give a pipeline file or a pipeline run directory.", path: path)
            }
            throw ResumableError(.notFound, "\(path) does not exist; give a pipeline file or a pipeline run directory (the one holding stages.json).", path: path)
        }
        switch st.st_mode & S_IFMT {
        case S_IFREG:
            let spec = try PipelineSpec.load(path: path)
            let ledger = try StageLedger.read(runDirectory: spec.runDirectory)
            return make(spec: spec, ledger: ledger, now: now)
        case S_IFDIR:
            guard FileSystem.entryType(StageLedger.path(in: path)) != .missing else {
                let what = FileSystem.entryType(FilePath.join(path, "run.json")) != .missing
                    ? "is a checkpoint run, not a pipeline run (`resumable status \(path)` shows it)"
                    : "has no stages.json, so no pipeline has run there"
                throw ResumableError(
                    .usage, "\(path) \(what). Give the pipeline file, or the pipeline's run directory (its `run:`), which holds stages.json.",
                    path: path)
            }
            guard let ledger = try StageLedger.read(runDirectory: path) else {
                throw ResumableError(.notFound, "\(StageLedger.path(in: path)) disappeared while it was being read.", path: StageLedger.path(in: path))
            }
            return fromRun(path, ledger: ledger, now: now)
        default:
            throw ResumableError(
                .usage, "\(path) is a FIFO, socket or device, neither a pipeline file nor a pipeline run directory.", path: path)
        }
    }

    /// The status of a run directory from its ledger: the outline's file when it
    /// parses and its `run:` is this directory, else the outline, else the ledger's stage names.
    static func fromRun(_ run: String, ledger: StageLedger, now: Double) -> PipelineStatus {
        var notes: [String] = []
        if let outline = ledger.pipeline {
            if FileSystem.entryType(outline.file) != .missing {
                do {
                    let spec = try PipelineSpec.load(path: outline.file)
                    if sameDirectory(spec.runDirectory, run) {
                        var status = make(spec: spec, ledger: ledger, now: now)
                        status.run = run
                        return status
                    }
                    notes.append("\(outline.file) now names another run directory (\(spec.runDirectory)); the ledger's outline is shown")
                } catch let error as ResumableError {
                    notes.append("the pipeline file does not load now (\(error.message)); the ledger's outline is shown")
                } catch {
                    notes.append("the pipeline file does not load now (\(error)); the ledger's outline is shown")
                }
            } else {
                notes.append("the pipeline file \(outline.file) is gone; the ledger's outline is shown, without fingerprints")
            }
            let stages = outline.stages.map { ($0.name, $0.needs, $0.optional) }
            var status = make(name: outline.name, file: outline.file, run: run, source: .outline, stages: stages, ledger: ledger, now: now)
            status.notes = notes + status.notes
            return status
        }
        notes.append("the ledger has no outline of its pipeline (written before `pipeline` was recorded): stages by name; give the pipeline file for the order and the verdict")
        let stages = ledger.stages.keys.sorted().map { ($0, [String](), false) }
        var status = make(name: FilePath.lastComponent(of: FilePath.absolute(run)), file: nil, run: run, source: .ledger, stages: stages, ledger: ledger, now: now)
        status.notes = notes + status.notes
        return status
    }

    /// The status of `spec` against `ledger` (`nil`: never run): the verdict is
    /// ``PipelinePlan/make(spec:ledger:options:)``'s, fingerprints compared.
    public static func make(spec: PipelineSpec, ledger: StageLedger?, now: Double? = nil) -> PipelineStatus {
        let now = now ?? Timestamp.currentTime()
        let stages = spec.stages.map { ($0.name, $0.needs, $0.optional) }
        var status = make(
            name: spec.name, file: FilePath.absolute(spec.file), run: spec.runDirectory, source: .file, stages: stages,
            ledger: ledger, now: now)
        do {
            let plan = try PipelinePlan.make(spec: spec, ledger: ledger ?? StageLedger(createdAt: ""))
            status.next = plan.steps.filter { $0.action == .run }.map { Next(stage: $0.stage, reason: $0.reason) }
            status.complete = status.next.isEmpty
        } catch let error as ResumableError {
            status.complete = false
            status.notes.append("fingerprints could not be compared (\(error.message)); the verdict follows the statuses")
        } catch {
            status.complete = false
            status.notes.append("fingerprints could not be compared (\(error)); the verdict follows the statuses")
        }
        if let ledger {
            let extra = ledger.stages.keys.filter { spec.stage(named: $0) == nil }.sorted()
            if !extra.isEmpty { status.notes.append("the ledger also records stages the pipeline file no longer has: \(extra.joined(separator: ", "))") }
        }
        return status
    }

    /// The status of `stages` (name, needs, optional; in dependency order), the verdict from the statuses.
    static func make(
        name: String, file: String?, run: String, source: Source, stages: [(String, [String], Bool)], ledger: StageLedger?, now: Double
    ) -> PipelineStatus {
        let rows = stages.map { stage(name: $0.0, needs: $0.1, optional: $0.2, record: ledger?.record($0.0) ?? StageRecord(), run: run, now: now) }
        let next = nextFromStatuses(rows, ledger: ledger ?? StageLedger(createdAt: ""), run: run)
        return PipelineStatus(
            name: name, file: file, run: run, source: source, ledgerFound: ledger != nil, running: running(run), stages: rows,
            next: next, complete: next.isEmpty, notes: [])
    }

    /// The verdict without fingerprints: a stage runs when it is not completed,
    /// when a stage it needs runs, or when a recorded output is missing or has another size.
    static func nextFromStatuses(_ stages: [Stage], ledger: StageLedger, run: String) -> [Next] {
        var next: [Next] = []
        var running: Set<String> = []
        for stage in stages {
            let record = ledger.record(stage.name)
            var reason: String?
            switch stage.status {
            case .notStarted: reason = "not started"
            case .inProgress: reason = "in progress by a live process (pid \(record.owner?.pid ?? 0) on \(record.owner?.host ?? "?"))"
            case .interrupted: reason = "interrupted (attempt \(record.attempts)); resumes"
            case .failed: reason = "failed last time" + (record.exitCode.map { " (exit \($0))" } ?? "")
            case .skipped: reason = "skipped last time"
            case .completed:
                if let need = stage.needs.first(where: running.contains) {
                    reason = "upstream \(need) re-runs"
                } else {
                    reason = try? StageOutput.change(of: record.outputs, declared: [], runDirectory: run, verifyContent: false)
                }
            }
            if let reason {
                next.append(Next(stage: stage.name, reason: reason))
                running.insert(stage.name)
            }
        }
        return next
    }

    /// The live `pipeline run` holding `{run}/.lock`, if any.
    static func running(_ run: String) -> Running? {
        RunLock.currentOwner(directory: run).map { Running(pid: $0.pid, host: $0.host, startedAt: $0.startedAt, command: $0.command) }
    }

    /// Whether two paths name one directory (same device and inode).
    static func sameDirectory(_ a: String, _ b: String) -> Bool {
        var sa = stat(), sb = stat()
        guard stat(a, &sa) == 0, stat(b, &sb) == 0 else { return FilePath.absolute(a) == FilePath.absolute(b) }
        return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino
    }

    /// One stage's row: its record, its live progress and its directory's checkpoints.
    static func stage(name: String, needs: [String], optional: Bool, record: StageRecord, run: String, now: Double) -> Stage {
        let directory = stageDirectory(name, run: run)
        let status = record.observedStatus
        // The live report is newer than the ledger's while the ledger says in_progress (running, or left by a dead runner).
        var look = StageDirectory.Look()
        if FilePath.isPlainName(name) {
            look = StageDirectory.inspect(directory, liveProgress: record.status == .inProgress)
        } else {
            // A name from a ledger, not a checked pipeline file: never a path out of {run}/stages.
            look.problems.append("the stage name \(FilePath.printable(name).debugDescription) is not a plain name; its directory is not read")
        }
        var progress: [String: JSONValue]?
        var source: ProgressSource?
        if let live = look.progress {
            var p: [String: JSONValue] = ["epoch": .int(live.epoch), "of": .int(live.of), "updated_at": .string(live.updatedAt)]
            if let step = live.step { p["step"] = .int(step) }
            for (key, value) in live.counters where p[key] == nil { p[key] = .number(value) }
            (progress, source) = (p, .live)
        } else if !record.progress.isEmpty {
            (progress, source) = (record.progress, .ledger)
        } else if let latest = look.latest {
            (progress, source) = (["epoch": .int(latest.epoch), "step": .int(latest.step)], .checkpoint)
        }
        var duration: Double?
        if let started = record.startedAt.flatMap(Timestamp.parse) {
            if let ended = record.completedAt.flatMap(Timestamp.parse) {
                duration = max(0, ended - started)
            } else if status == .inProgress {
                duration = max(0, now - started)
            }
        }
        return Stage(
            name: name, needs: needs, optional: optional, status: status, recordedStatus: record.status, owner: record.owner,
            progress: progress, progressSource: source, attempts: record.attempts, exitCode: record.exitCode, outputs: record.outputs,
            startedAt: record.startedAt, completedAt: record.completedAt, durationSeconds: duration, directory: directory,
            latestCheckpoint: look.latest, trackers: look.trackers, errorTail: record.errorTail, problems: look.problems)
    }

    /// The status as JSON (docs/PIPELINES.md, "pipeline status --json").
    public var json: JSONValue {
        func string(_ s: String?) -> JSONValue { s.map { .string($0) } ?? .null }
        let stageList: [JSONValue] = stages.map { s in
            var o: [String: JSONValue] = [
                "name": .string(s.name), "status": .string(s.status.rawValue), "ledger_status": .string(s.recordedStatus.rawValue),
                "needs": .array(s.needs.map { .string($0) }), "optional": .bool(s.optional),
                "progress": s.progress.map { .object($0) } ?? .null, "progress_source": string(s.progressSource?.rawValue),
                "attempts": .int(Int64(s.attempts)), "exit_code": s.exitCode.map { .int(Int64($0)) } ?? .null,
                "outputs": .array(s.outputs.map(\.json)), "started_at": string(s.startedAt), "completed_at": string(s.completedAt),
                "duration_seconds": s.durationSeconds.map { .number($0) } ?? .null,
                "directory": .string(s.directory),
                "trackers": .object(s.trackers.mapValues { .string($0) }), "error_tail": .array(s.errorTail.map { .string($0) }),
                "problems": .array(s.problems.map { .string($0) }),
            ]
            o["latest_checkpoint"] = s.latestCheckpoint.map { .object(["step": .int($0.step), "epoch": .int($0.epoch), "path": .string($0.path)]) } ?? .null
            o["owner"] = s.owner.map { .object(["pid": .int(Int64($0.pid)), "host": .string($0.host)]) } ?? .null
            return .object(o)
        }
        return .object([
            "pipeline": .string(name), "file": string(file), "run": .string(run), "source": .string(source.rawValue),
            "ledger": .bool(ledgerFound), "complete": .bool(complete),
            "running": running.map { .object(["pid": .int(Int64($0.pid)), "host": .string($0.host), "started_at": .string($0.startedAt), "command": .string($0.command)]) } ?? .null,
            "stages": .array(stageList),
            "next": .array(next.map { .object(["stage": .string($0.stage), "reason": .string($0.reason)]) }),
            "notes": .array(notes.map { .string($0) }),
        ])
    }

    /// The verdict in one line: `pipeline complete`, or `not complete: next to run: X (reason), …`.
    public var verdict: String {
        if complete { return "pipeline complete" }
        if next.isEmpty { return "not complete" }
        return "not complete: next to run: " + next.map { "\($0.stage) (\($0.reason))" }.joined(separator: ", ")
    }
}

/// What a stage's own run directory shows, read without following links and without ever failing.
enum StageDirectory {
    struct Look {
        var progress: RunProgress?
        var latest: PipelineStatus.LatestCheckpoint?
        var trackers: [String: String] = [:]
        var problems: [String] = []
    }

    static func inspect(_ directory: String, liveProgress: Bool) -> Look {
        var look = Look()
        switch FileSystem.entryType(directory) {
        case .missing: return look
        case .directory: break
        case .symbolicLink:
            look.problems.append("\(directory) is a symbolic link, not the stage's run directory; it is not followed")
            return look
        case .regular:
            look.problems.append("\(directory) is a regular file where the stage's run directory should be")
            return look
        case .other:
            look.problems.append("\(directory) is a FIFO, socket or device where the stage's run directory should be")
            return look
        }
        if liveProgress {
            switch RunProgress.read(from: directory) {
            case .none: break
            case .report(let report): look.progress = report
            case .damaged(let reason): look.problems.append("progress.json is damaged: \(reason)")
            }
        }
        let hasRun = FileSystem.entryType(FilePath.join(directory, "run.json")) != .missing
        let hasCheckpoints = FileSystem.entryType(FilePath.join(directory, "checkpoints")) != .missing
        if !hasRun {
            if hasCheckpoints { look.problems.append("\(directory) has checkpoints/ but no run.json; its checkpoints are not read") }
            return look
        }
        do {
            let store = try CheckpointStore(directory: directory, access: .read)
            look.trackers = store.run.trackers
            let scan = try store.scan()
            if let latest = scan.checkpoints.last {
                look.latest = PipelineStatus.LatestCheckpoint(step: latest.step, epoch: latest.manifest.epoch, path: latest.directory)
                for (name, id) in trackers(in: latest.manifest) { look.trackers[name] = id }
            }
            if !scan.damaged.isEmpty {
                look.problems.append(
                    "\(scan.damaged.count) damaged checkpoint\(scan.damaged.count == 1 ? "" : "s") (steps \(scan.damaged.map { String($0.step) }.joined(separator: ", "))); `resumable ls \(directory)` lists them")
            }
        } catch let error as ResumableError {
            look.problems.append(error.message)
        } catch {
            look.problems.append("\(directory): \(error)")
        }
        return look
    }

    /// Tracker run ids a manifest records: `metadata.NAME.run_id`, `metadata.NAME_run_id`, and the
    /// top-level `NAME.run_id` (what `resumable edit REF --set wandb.run_id=ID` writes), the last winning.
    static func trackers(in manifest: Manifest) -> [String: String] {
        var found: [String: String] = [:]
        for name in ["wandb", "mlflow"] {
            for value in [manifest.metadata[name + "_run_id"], manifest.metadata[name]?["run_id"], manifest.extra[name]?["run_id"]] {
                if let id = value?.stringValue, !id.isEmpty { found[name] = id }
            }
        }
        return found
    }
}
