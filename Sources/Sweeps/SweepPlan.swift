import Pipelines

/// What a `sweep run` will do, unit by unit, and why.
///
/// Nothing is redone without a reason and nothing is skipped silently: each
/// unit of the spec gets `run` or `skip` and one reason; records on disk of
/// units no longer in the spec are listed (``stale``), never deleted.
public struct SweepPlan: Sendable {
    /// Whether a unit runs in this plan.
    public enum Action: String, Sendable { case run, skip }

    /// One unit's decision.
    public struct Step: Sendable {
        public var unit: SweepUnit
        public var action: Action
        /// Why, in one line: "new", "retry 1 of 2", "interrupted; resumes", "done"…
        public var reason: String
        /// The unit's status as a reader sees it (`pending` without a record); `nil` when its record is damaged.
        public var status: UnitStatus?
        /// The unit's record, when it has a valid one.
        public var record: UnitRecord?
    }

    /// Every unit of the spec, in the spec's order.
    public var steps: [Step]
    /// Records in the sweep directory whose key is not a unit of the spec
    /// (from an earlier matrix, command or env): kept, never deleted.
    public var stale: [StoredRecord]

    /// The units that run, in order.
    public var unitsToRun: [SweepUnit] { steps.filter { $0.action == .run }.map(\.unit) }
    /// Units that run.
    public var toRun: Int { steps.count(where: { $0.action == .run }) }
    /// Units done.
    public var finished: Int { steps.count(where: { $0.status == .done }) }
    /// Failed units with no retries left (skipped until `sweep rerun --failed`).
    public var failed: Int { steps.count(where: { $0.status == .failed && $0.action == .skip }) }
    /// Failed units retried in this run.
    public var retrying: Int { steps.count(where: { $0.status == .failed && $0.action == .run }) }
    /// Interrupted units, resumed in this run.
    public var interrupted: Int { steps.count(where: { $0.status == .interrupted }) }
    /// Units running in another live process (or on another host).
    public var running: Int { steps.count(where: { $0.status == .running }) }
    /// Units whose record is damaged (left alone).
    public var damaged: Int { steps.count(where: { $0.status == nil }) }

    /// Plans a run of `spec` against the records in `store` (nothing runs, nothing is written).
    /// - Throws: when the units directory cannot be listed; a damaged record is not an error.
    public static func make(spec: SweepSpec, store: SweepStore) throws -> SweepPlan {
        make(spec: spec, records: try store.records())
    }

    /// Plans a run of `spec` against `records`.
    ///
    /// - done → skip ("done")
    /// - failed, attempts > retries → skip ("failed N times; `sweep rerun --failed` to try again")
    /// - failed, attempts ≤ retries → run ("retry k of r")
    /// - running in a live process, or on another host → skip ("running in pid P on H")
    /// - interrupted, or running by a process that is gone → run ("interrupted (attempt N); resumes")
    /// - no record, or pending → run ("new", or "reopened" after `sweep rerun`)
    /// - a damaged record → skip ("record damaged: …"), left alone
    public static func make(spec: SweepSpec, records: [StoredRecord]) -> SweepPlan {
        var byKey: [String: StoredRecord] = [:]
        for stored in records { byKey[stored.key] = stored }
        var steps: [Step] = []
        steps.reserveCapacity(spec.units.count)
        for unit in spec.units {
            switch byKey.removeValue(forKey: unit.key) {
            case nil:
                steps.append(Step(unit: unit, action: .run, reason: "new", status: .pending, record: nil))
            case .damaged(_, _, let reason)?:
                steps.append(Step(unit: unit, action: .skip, reason: "record damaged, left alone: \(reason)", status: nil, record: nil))
            case .valid(let record)?:
                let status = record.observedStatus
                let (action, reason) = decide(record, status: status, retries: spec.retries)
                steps.append(Step(unit: unit, action: action, reason: reason, status: status, record: record))
            }
        }
        let stale = records.filter { byKey[$0.key] != nil }
        return SweepPlan(steps: steps, stale: stale)
    }

    static func decide(_ record: UnitRecord, status: UnitStatus, retries: Int) -> (Action, String) {
        switch status {
        case .done:
            return (.skip, "done")
        case .failed where record.attempts > retries:
            let exit = record.exitCode.map { ", last with exit \($0)" } ?? ""
            return (.skip, "failed \(times(record.attempts))\(exit); `sweep rerun --failed` to try again")
        case .failed:
            return (.run, "retry \(max(record.attempts, 1)) of \(retries)")
        case .running:
            let owner = record.owner.map { "pid \($0.pid) on \($0.host)" } ?? "another process"
            return (.skip, "running in \(owner)")
        case .interrupted:
            return (.run, "interrupted (attempt \(record.attempts)); resumes")
        case .pending:
            return (.run, record.startedAt == nil ? "new" : "reopened")
        }
    }

    static func times(_ n: Int) -> String { n == 1 ? "once" : n == 2 ? "twice" : "\(n) times" }

    /// One line for the start of a run: "Found 3 finished units; running the
    /// 15 that remain.", "Running all 18 units.", "All 18 units are finished;
    /// nothing to run.", with failed, interrupted, running and damaged ones
    /// named, and a second sentence for stale records.
    public var summary: String {
        func units(_ n: Int, _ adjective: String) -> String { "\(n) \(adjective) unit\(n == 1 ? "" : "s")" }
        var found: [String] = []
        if finished > 0 { found.append(units(finished, "finished")) }
        if failed > 0 {
            found.append(units(failed, "failed") + " with no retries left (`sweep rerun --failed` starts \(failed == 1 ? "it" : "them") again)")
        }
        if retrying > 0 { found.append(units(retrying, "failed") + " to retry") }
        if interrupted > 0 { found.append(units(interrupted, "interrupted")) }
        if running > 0 { found.append("\(running) running in another process") }
        if damaged > 0 { found.append("\(damaged) with a damaged record (left alone)") }

        let total = steps.count
        var line: String
        if toRun == 0 {
            if finished == total {
                line = total == 1 ? "The sweep's one unit is finished; nothing to run." : "All \(total) units are finished; nothing to run."
            } else {
                line = "Nothing to run: found \(Self.list(found))."
            }
        } else if found.isEmpty {
            line = total == 1 ? "Running the sweep's one unit." : "Running all \(total) units."
        } else {
            line = "Found \(Self.list(found)); running the \(toRun == 1 ? "one that remains" : "\(toRun) that remain")."
        }
        if !stale.isEmpty {
            line +=
                stale.count == 1
                ? " 1 unit recorded earlier is no longer in the sweep (its record is kept)."
                : " \(stale.count) units recorded earlier are no longer in the sweep (their records are kept)."
        }
        return line
    }

    /// "a", "a and b", "a, b and c".
    static func list(_ parts: [String]) -> String {
        guard parts.count > 1 else { return parts.first ?? "" }
        return parts.dropLast().joined(separator: ", ") + " and " + parts.last!
    }
}
