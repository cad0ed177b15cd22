public import JSON
import DurableFiles
import Pipelines

/// Reopens units of a sweep so the next `sweep run` runs them again, from
/// scratch (`resumable sweep rerun`).
///
/// Each unit is reopened under its claim (``SweepStore/claim(_:)``), so a
/// unit some process is running is never touched: it is skipped and
/// reported. Under the claim the record is read again; the unit's run
/// directory (`units/KEY/`, with its checkpoints and default result file) is
/// moved to `previous/KEY` (replacing an older one there), then the record
/// is reopened (``UnitRecord/reopen()``: `pending`, attempts 0) and written
/// atomically. A crash between the two leaves the unit as it was, with its
/// run directory moved aside: running `sweep rerun` again finishes the job.
public enum SweepRerun {
    /// Which units to reopen.
    public struct Selection: Sendable {
        /// `name=value` pairs every selected unit has (all of them); values
        /// are matched by their text (``SweepValue/text``: `rep=a` matches the
        /// string `a`, `lr=0.1` the float 0.1), or as a typed YAML 1.2 scalar
        /// (`lr=1e-1` matches 0.1 too).
        public var pairs: [(name: String, value: String)]
        /// Only units whose last attempt failed.
        public var failedOnly: Bool
        /// Every unit (no pair needed).
        public var all: Bool

        public init(pairs: [(name: String, value: String)] = [], failedOnly: Bool = false, all: Bool = false) {
            self.pairs = pairs
            self.failedOnly = failedOnly
            self.all = all
        }
    }

    /// What happened to one selected unit.
    public enum Outcome: Sendable {
        /// Reopened; `previousStatus` is what it was, `movedTo` where its run directory went (`nil`: it had none).
        case reopened(previousStatus: UnitStatus, attempts: Int, movedTo: String?)
        /// Left as it is: running in another process, its record damaged, its run directory in use…
        case skipped(reason: String)
        /// Nothing to reopen: never started, or already pending.
        case notStarted
        /// `failedOnly`, and the unit's last attempt did not fail.
        case notFailed
    }

    /// The units selected and what happened to each, in the spec's order.
    public struct Report: Sendable {
        public var results: [(unit: SweepUnit, outcome: Outcome)]

        public var reopened: [(unit: SweepUnit, previousStatus: UnitStatus, attempts: Int, movedTo: String?)] {
            results.compactMap { r in
                if case .reopened(let status, let attempts, let moved) = r.outcome { return (r.unit, status, attempts, moved) }
                return nil
            }
        }

        public var skipped: [(unit: SweepUnit, reason: String)] {
            results.compactMap { r in
                if case .skipped(let reason) = r.outcome { return (r.unit, reason) }
                return nil
            }
        }

        public var notStarted: [SweepUnit] {
            results.compactMap { r in
                if case .notStarted = r.outcome { return r.unit }
                return nil
            }
        }

        /// The report as `sweep rerun --json` prints it.
        public var json: JSONValue {
            .object([
                "selected": .int(Int64(results.count - results.count(where: { if case .notFailed = $0.outcome { true } else { false } }))),
                "reopened": .array(
                    reopened.map { r in
                        .object([
                            "key": .string(r.unit.key), "params": r.unit.paramsJSON, "previous_status": .string(r.previousStatus.rawValue),
                            "attempts": .int(Int64(r.attempts)), "moved_to": r.movedTo.map { .string($0) } ?? .null,
                        ])
                    }),
                "skipped": .array(
                    skipped.map { .object(["key": .string($0.unit.key), "params": $0.unit.paramsJSON, "reason": .string($0.reason)]) }),
                "not_started": .array(notStarted.map { .object(["key": .string($0.key), "params": $0.paramsJSON]) }),
            ])
        }
    }

    /// Whether `value` matches the text given on the command line.
    public static func matches(_ value: SweepValue, _ text: String) -> Bool {
        if value.text == text { return true }
        switch (value, CoreSchema.resolve(text)) {
        case (.int(let a), .int(let b)): return a == b
        case (.float(let a), .float(let b)): return a == b
        case (.bool(let a), .bool(let b)): return a == b
        default: return false
        }
    }

    /// The units of `spec` the pairs select (all units without pairs), in the spec's order.
    /// - Throws: `.usage` (64) for a parameter the sweep does not have (listing
    ///   those it has), a value no unit has (listing the values), or pairs no
    ///   unit has together.
    public static func select(_ selection: Selection, in spec: SweepSpec) throws -> [SweepUnit] {
        let names = spec.parameterNames
        for (name, text) in selection.pairs {
            guard names.contains(name) else {
                throw ResumableError(
                    .usage, "the sweep \(spec.name) has no parameter \"\(name)\"; its parameters are: \(names.joined(separator: ", ")).")
            }
            if !spec.units.contains(where: { unit in unit.value(of: name).map { matches($0, text) } ?? false }) {
                var values: [String] = []
                for unit in spec.units {
                    if let v = unit.value(of: name)?.text, !values.contains(v) { values.append(v) }
                }
                throw ResumableError(.usage, "no unit has \(name)=\(text); the values of \(name) are: \(values.joined(separator: ", ")).")
            }
        }
        let units = spec.units.filter { unit in
            selection.pairs.allSatisfy { pair in unit.value(of: pair.name).map { matches($0, pair.value) } ?? false }
        }
        if units.isEmpty {
            throw ResumableError(
                .usage, "no unit has " + selection.pairs.map { "\($0.name)=\($0.value)" }.joined(separator: " and ") + " together.")
        }
        return units
    }

    /// Reopens the units of `spec` that `selection` picks.
    /// - Throws: `.usage` as ``select(_:in:)`` or when nothing is asked for
    ///   (no pair, not `failedOnly`, not `all`); errors listing `units/`.
    ///   A unit that cannot be reopened (a link in place of its run
    ///   directory…) is reported as skipped with the reason.
    public static func reopen(_ selection: Selection, spec: SweepSpec) throws -> Report {
        guard selection.all || selection.failedOnly || !selection.pairs.isEmpty else {
            throw ResumableError(.usage, "say which units to reopen: --where NAME=VALUE (repeatable), --failed or --all.")
        }
        let units = try select(selection, in: spec)
        let store = SweepStore(spec: spec)
        var byKey: [String: StoredRecord] = [:]
        for stored in try store.records() { byKey[stored.key] = stored }
        var results: [(unit: SweepUnit, outcome: Outcome)] = []
        for unit in units {
            // A first look without the claim: units never started, or not failed with --failed, need no claim.
            switch byKey[unit.key] {
            case nil:
                if !selection.failedOnly { results.append((unit, .notStarted)) } else { results.append((unit, .notFailed)) }
                continue
            case .valid(let record)?:
                if selection.failedOnly && record.observedStatus != .failed {
                    results.append((unit, .notFailed))
                    continue
                }
                if record.status == .pending && !selection.failedOnly {
                    results.append((unit, .notStarted))
                    continue
                }
            case .damaged?: break
            }
            do {
                results.append((unit, try reopen(unit, store: store, failedOnly: selection.failedOnly)))
            } catch {
                results.append((unit, .skipped(reason: (error as? ResumableError)?.message ?? "\(error)")))
            }
        }
        return Report(results: results)
    }

    /// Reopens one unit under its claim.
    static func reopen(_ unit: SweepUnit, store: SweepStore, failedOnly: Bool) throws -> Outcome {
        guard let claim = try store.claim(unit.key) else { return .skipped(reason: "running in another process (it holds the unit's claim)") }
        defer { claim.release() }
        let record: UnitRecord
        do {
            guard let found = try store.record(unit.key) else { return failedOnly ? .notFailed : .notStarted }
            record = found
        } catch {
            let reason = (error as? ResumableError)?.message ?? "\(error)"
            return .skipped(reason: "its record is damaged, left alone (\(reason))")
        }
        let status = record.observedStatus
        if failedOnly && status != .failed { return .notFailed }
        if status == .pending { return .notStarted }
        if status == .running, let owner = record.owner {
            return .skipped(reason: "running in pid \(owner.pid) on \(owner.host)")
        }
        let directory = store.unitDirectory(unit.key)
        let moved = try moveAside(directory, key: unit.key, store: store)
        var reopened = record
        reopened.reopen()
        try store.save(reopened)
        return .reopened(previousStatus: status, attempts: record.attempts, movedTo: moved)
    }

    /// Moves the unit's run directory to `previous/KEY`, replacing an older
    /// one there (removed without following links); nothing is followed.
    /// - Returns: where it went, `nil` when there was none.
    /// - Throws: `.corrupt` for a link or file in its place; `.locked` when a
    ///   live process holds its run lock.
    static func moveAside(_ directory: String, key: String, store: SweepStore) throws -> String? {
        let found = FileSystem.entryType(directory)
        if found == .missing { return nil }
        guard found == .directory else { throw FileSystem.misplacedEntry(directory, found: found, expected: .directory) }
        if let owner = RunLock.currentOwner(directory: directory) {
            throw ResumableError(.locked, "its run directory \(directory) is in use by \(owner); stop it, then rerun the unit.", path: directory)
        }
        let previous = store.previousDirectory
        try FileSystem.createOwnedDirectory(previous)
        let kept = FilePath.join(previous, key)
        if FileSystem.entryType(kept) != .missing { try FileSystem.removeTree(kept) }
        try FileSystem.rename(directory, to: kept, replacing: false)
        try FileSystem.sync(store.unitsDirectory)
        try FileSystem.sync(previous)
        return kept
    }
}

extension SweepStore {
    /// `previous/`: the run directories of reopened units (`previous/KEY`).
    public var previousDirectory: String { directory + "/previous" }
}
