import DurableFiles
public import JSON
import Logging

/// What a reset deleted.
public struct ResetReport: Sendable {
    /// The deleted steps, ascending.
    public var deleted: [Int64]
    /// The deleted steps that were tagged `pinned` (a reset deletes them too).
    public var pinned: [Int64]
    /// The bytes the deleted checkpoints' manifests recorded (a damaged step
    /// directory, whose size is not known, counts 0).
    public var bytesFreed: Int64
    /// The step the run was reset to (its newest checkpoint now), or `nil`
    /// when every checkpoint was deleted.
    public var to: Int64?
}

extension CheckpointStore {
    /// The step directories a reset to `step` deletes: every one, or with a
    /// step those after it, ascending (damaged ones included).
    public func steps(after step: Int64?) throws -> [Int64] {
        let steps = try committedSteps()
        guard let step else { return steps }
        return steps.filter { $0 > step }
    }

    /// Deletes every checkpoint of the run or, with `step`, every one newer
    /// than `step` — pinned and protected ones too, and damaged step
    /// directories — so the run starts over, or continues from `step` as if
    /// nothing had been saved after it. The one way to delete a run's history:
    /// `resumable reset`, and the training loop starting over (resume mode
    /// `never` with overwriting) or resuming from an older checkpoint of its
    /// own (which discards the newer ones).
    ///
    /// Each checkpoint is deleted crash-safely (`delete(step:)`: renamed into
    /// `.trash/`, the rename made durable, then removed; links inside are
    /// removed, never followed), newest first, so a crash part-way leaves the
    /// run as it was at an earlier point of its history, and running the reset
    /// again finishes it. When anything was deleted, `event` is recorded in
    /// the journal with `steps` (the deleted steps), `to` (`step` or null) and
    /// `fields`.
    ///
    /// - Parameters:
    ///   - step: the checkpoint to keep as the newest; it must be a readable
    ///     committed checkpoint. `nil` deletes every checkpoint.
    ///   - event: the journal event (the store's `reset`, or the training
    ///     loop's `reset`/`discard`).
    ///   - fields: further fields of the journal line (`reason`).
    /// - Throws: `.notFound` when `step` has no checkpoint, `.corrupt` when its
    ///   manifest is damaged (nothing is deleted then); `.usage` for a store
    ///   opened read-only.
    @discardableResult
    public func reset<Event: JournalEventName>(
        to step: Int64? = nil, recording event: Event = JournalEvent.Store.reset, fields: [String: JSONValue] = [:]
    ) throws -> ResetReport {
        try requireWrite("reset the run")
        if let step { _ = try checkpoint(step: step) }
        let doomed = try steps(after: step)
        var report = ResetReport(deleted: doomed, pinned: [], bytesFreed: 0, to: step)
        guard !doomed.isEmpty else { return report }
        let readable = try scan().checkpoints.filter { doomed.contains($0.step) }
        report.bytesFreed = Checkpoint.total(readable.map(\.bytes))
        report.pinned = readable.filter { $0.manifest.tags.contains("pinned") }.map(\.step)
        for s in doomed.reversed() { try delete(step: s) }
        var line = fields
        line["steps"] = .array(doomed.map { .int($0) })
        line["to"] = step.map { .int($0) } ?? .null
        try? events.append(event, line)
        logger.debug("Reset \(directory) to \(step.map { "step \($0)" } ?? "no checkpoint"): deleted \(doomed.count).")
        return report
    }
}
