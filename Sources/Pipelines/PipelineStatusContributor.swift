public import CheckpointStore
import DurableFiles
import JSON

/// Adds the `pipeline` section to `resumable status RUN` when a pipeline
/// ledger (`stages.json`) stands beside the run's `run.json`: one row per
/// stage and the verdict. A ledger that cannot be read is shown as damaged
/// (JSON: `{"damaged": REASON}`) and never stops the command.
public struct PipelineStatusContributor: RunStatusContributor {
    public init() {}

    public func section(for store: CheckpointStore, status: RunStatus) throws -> RunStatus.Section? {
        Self.section(runDirectory: store.directory)
    }

    /// The section for the pipeline ledger in `runDirectory`, `nil` when there is none.
    public static func section(runDirectory: String, now: Double? = nil) -> RunStatus.Section? {
        let now = now ?? Timestamp.currentTime()
        guard FileSystem.entryType(StageLedger.path(in: runDirectory)) != .missing else { return nil }
        let pipeline: PipelineStatus
        do {
            guard let ledger = try StageLedger.read(runDirectory: runDirectory) else { return nil }
            pipeline = PipelineStatus.fromRun(runDirectory, ledger: ledger, now: now)
        } catch let error as ResumableError {
            return RunStatus.Section(
                id: "pipeline", title: "Pipeline", rows: [RunStatus.Row("damaged", error.message)], json: ["damaged": .string(error.message)])
        } catch {
            return RunStatus.Section(
                id: "pipeline", title: "Pipeline", rows: [RunStatus.Row("damaged", "\(error)")], json: ["damaged": .string("\(error)")])
        }
        var rows = [RunStatus.Row("name", pipeline.name + (pipeline.file.map { " (\($0))" } ?? ""))]
        for stage in pipeline.stages {
            var parts = [stage.status.rawValue]
            if !stage.progressText.isEmpty { parts.append(stage.progressText) }
            parts.append("\(stage.attempts) attempt\(stage.attempts == 1 ? "" : "s")")
            if !stage.problems.isEmpty { parts.append("problem: " + stage.problems.joined(separator: "; ")) }
            rows.append(RunStatus.Row("stage " + stage.name, parts.joined(separator: ", ")))
        }
        if let running = pipeline.running {
            rows.append(RunStatus.Row("running", "pid \(running.pid) on \(running.host) since \(running.startedAt)"))
        }
        rows.append(RunStatus.Row("verdict", pipeline.verdict))
        return RunStatus.Section(id: "pipeline", title: "Pipeline", rows: rows, json: pipeline.json)
    }
}
