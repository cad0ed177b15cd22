public import CheckpointStore
import JSON

/// Adds the `attempts` section to `resumable status`: attempts and resumes
/// (from the journal's summary, `RunHistory`), and what `resumable run`
/// recorded — restarts, preemptions, requeues, the last failure, why it gave up.
public struct SupervisorStatusContributor: RunStatusContributor {
    /// The contributor.
    public init() {}

    public func section(for store: CheckpointStore, status: RunStatus) throws -> RunStatus.Section? {
        Self.section(AttemptHistory(run: status.history))
    }

    static func section(_ history: AttemptHistory) -> RunStatus.Section {
        let run = history.run
        let starts = run.attempts.count
        var rows = [RunStatus.Row("started", "\(starts) time\(starts == 1 ? "" : "s"), resumed \(run.resumes)")]
        if history.restarts > 0 || history.preemptions > 0 || history.requeues > 0 {
            rows.append(
                RunStatus.Row(
                    "restarts",
                    "\(history.restarts) after failures, \(history.preemptions) preempted, \(history.requeues) requeued"))
        }
        if let failure = history.lastFailure {
            rows.append(
                RunStatus.Row(
                    "last failure",
                    "attempt \(failure.attempt): \(failure.reason) at \(failure.time)"
                        + (failure.step.map { " (latest checkpoint: step \($0))" } ?? "")))
        }
        if let gaveUp = history.gaveUp { rows.append(RunStatus.Row("stopped", gaveUp)) }
        if let last = run.lastEvent { rows.append(RunStatus.Row("last event", RunStatus.describe(event: last.json))) }
        return RunStatus.Section(
            id: "attempts", title: "Attempts", rows: rows,
            json: [
                "starts": .int(Int64(starts)), "supervised": .int(Int64(run.supervisedAttempts)),
                "resumes": .int(Int64(run.resumes)),
                "last_failure": history.lastFailureEvent?.json ?? .null, "last_event": run.lastEvent?.json ?? .null,
                "restarts": .int(Int64(history.restarts)), "preemptions": .int(Int64(history.preemptions)),
                "requeues": .int(Int64(history.requeues)), "gave_up": history.gaveUp.map { .string($0) } ?? .null,
            ])
    }
}
