import DurableFiles
import Logging

/// A checkpoint chosen by a selector, and the newer ones passed over because
/// they failed verification.
public struct Resolution: Sendable {
    public var checkpoint: Checkpoint
    /// Checkpoints skipped on the way, newest first, with the reason.
    public var skipped: [(step: Int64, reason: String)]
}

extension CheckpointStore {
    /// The newest committed checkpoint, or `nil` when there is none.
    ///
    /// Checkpoints whose manifest cannot be read are passed over; with
    /// `verify`, so are those whose files do not match their manifest. The
    /// result is the newest good one, and one warning names what was passed
    /// over and what is used instead (callers need not log it again).
    public func latest(verify: Bool = false) throws -> Resolution? {
        var skipped: [(step: Int64, reason: String)] = []
        for step in try committedSteps().reversed() {
            let candidate: Checkpoint
            do {
                candidate = try checkpoint(step: step)
            } catch let error as ResumableError where error.code == .corrupt || error.code == .unsupportedVersion || error.code == .notFound {
                skipped.append((step, error.message))
                continue
            }
            if verify {
                let report = try self.verify(candidate)
                if !report.isIntact {
                    skipped.append((step, report.summary))
                    continue
                }
            }
            warnSkipped(skipped, using: step)
            return Resolution(checkpoint: candidate, skipped: skipped)
        }
        warnSkipped(skipped, using: nil)
        return nil
    }

    /// The one warning `latest` and `best` give for the checkpoints they passed over.
    private func warnSkipped(_ skipped: [(step: Int64, reason: String)], using step: Int64?, best: Bool = false) {
        guard !skipped.isEmpty else { return }
        let what = skipped.map { "\(Checkpoint.directoryName(step: $0.step)) is corrupt (\($0.reason))" }
            .joined(separator: "; ")
        let instead = step.map { "falling back to \(best ? "the next best, " : "")\(Checkpoint.directoryName(step: $0))" }
            ?? (best ? "no intact checkpoint records the metric" : "no good checkpoint remains")
        logger.warning("\(best ? "Best checkpoint" : "Checkpoint") \(what); \(instead).")
    }

    /// The best checkpoint by `monitor` (or the run's monitor), as `best(by:)`
    /// chooses it; with `verify`, the best of those whose files match their
    /// manifest: a corrupt best is passed over for the next best, with one
    /// warning, as `latest(verify:)` passes over a corrupt newest. `nil` when
    /// no (intact) checkpoint has the metric.
    func verifiedBest(by monitor: Monitor?, verify: Bool) throws -> Resolution? {
        guard verify else { return try best(by: monitor).map { Resolution(checkpoint: $0, skipped: []) } }
        guard let monitor = monitor ?? run.monitor else { return try best(by: nil).map { Resolution(checkpoint: $0, skipped: []) } }
        var candidates = try checkpoints()
        var skipped: [(step: Int64, reason: String)] = []
        while let candidate = Self.best(in: candidates, by: monitor) {
            let report = try self.verify(candidate)
            if report.isIntact {
                warnSkipped(skipped, using: candidate.step, best: true)
                return Resolution(checkpoint: candidate, skipped: skipped)
            }
            skipped.append((candidate.step, report.summary))
            candidates.removeAll { $0.step == candidate.step }
        }
        warnSkipped(skipped, using: nil, best: true)
        return nil
    }

    /// The best checkpoint by `monitor` (or the run's monitor): the earliest
    /// to reach the best value (see `Monitor`); `nil` when no checkpoint has the metric.
    /// - Throws: `.usage` when no monitor is given and the run has none.
    public func best(by monitor: Monitor? = nil) throws -> Checkpoint? {
        guard let monitor = monitor ?? run.monitor else {
            throw ResumableError(
                .usage,
                "the run \(directory) does not say which metric makes a checkpoint best; name one with --monitor METRIC --mode min|max.")
        }
        return Self.best(in: try checkpoints(), by: monitor)
    }

    /// The best of `checkpoints` by `monitor`: in step order, the earliest to
    /// reach the best value (a later tie does not displace it; see `Monitor`).
    public static func best(in checkpoints: [Checkpoint], by monitor: Monitor) -> Checkpoint? {
        let ordered = zip(checkpoints, checkpoints.dropFirst()).allSatisfy { $0.step <= $1.step }
            ? checkpoints : checkpoints.sorted { $0.step < $1.step }
        return monitor.best(of: ordered) { $0.manifest.metrics[monitor.metric] }
    }

    /// Resolves a selector. With `verify`, `latest` and `best` pass over
    /// checkpoints whose files do not match their manifest (one warning), to the
    /// newest, or the best, intact one; a step is returned as it is.
    /// - Throws: `.notFound` when nothing matches.
    public func resolve(_ selector: CheckpointSelector, verify: Bool = false) throws -> Resolution {
        switch selector {
        case .latest:
            guard let r = try latest(verify: verify) else {
                throw ResumableError(.notFound, "the run \(directory) has no committed checkpoint.", path: directory)
            }
            return r
        case .best(let monitor):
            guard let r = try verifiedBest(by: monitor, verify: verify) else {
                let metric = (monitor ?? run.monitor)?.metric ?? "?"
                throw ResumableError(
                    .notFound, "no \(verify ? "intact " : "")checkpoint of \(directory) records the metric \"\(metric)\".",
                    path: directory)
            }
            return r
        case .step(let s):
            return Resolution(checkpoint: try checkpoint(step: s), skipped: [])
        }
    }
}
