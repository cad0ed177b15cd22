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
    /// With `verify`, checkpoints whose files do not match their manifest are
    /// passed over (and logged as a warning): the result is the newest good one.
    public func latest(verify: Bool = false) throws -> Resolution? {
        var skipped: [(Int64, String)] = []
        for step in try committedSteps().reversed() {
            let candidate: Checkpoint
            do {
                candidate = try checkpoint(step: step)
            } catch let error as ResumableError where error.code == .corrupt || error.code == .unsupportedVersion || error.code == .notFound {
                skipped.append((step, error.message))
                logger.warning("Skipping \(Checkpoint.directoryName(step: step)): \(error.message)")
                continue
            }
            if verify {
                let report = try self.verify(candidate)
                if !report.isIntact {
                    let reason = report.summary
                    skipped.append((step, reason))
                    logger.warning(
                        "Checkpoint \(Checkpoint.directoryName(step: step)) is corrupt (\(reason)); falling back to an earlier one.")
                    continue
                }
            }
            if !skipped.isEmpty {
                logger.warning("Using \(Checkpoint.directoryName(step: step)) instead of the newer damaged checkpoint(s).")
            }
            return Resolution(checkpoint: candidate, skipped: skipped)
        }
        return nil
    }

    /// The best checkpoint by `monitor` (or the run's monitor), ties going to
    /// the newest; `nil` when no checkpoint has the metric.
    /// - Throws: `.usage` when no monitor is given and the run has none.
    public func best(by monitor: Monitor? = nil) throws -> Checkpoint? {
        guard let monitor = monitor ?? run.monitor else {
            throw ResumableError(
                .usage,
                "the run \(directory) does not say which metric makes a checkpoint best; name one with --monitor METRIC --mode min|max.")
        }
        return Self.best(in: try checkpoints(), by: monitor)
    }

    /// The best of `checkpoints` by `monitor`, ties going to the newest.
    public static func best(in checkpoints: [Checkpoint], by monitor: Monitor) -> Checkpoint? {
        var best: Checkpoint?
        for c in checkpoints {
            guard let value = c.manifest.metrics[monitor.metric], !value.isNaN else { continue }
            if let current = best, let currentValue = current.manifest.metrics[monitor.metric],
                monitor.mode.isBetter(currentValue, than: value)
            {
                continue
            }
            best = c
        }
        return best
    }

    /// Resolves a selector.
    /// - Throws: `.notFound` when nothing matches.
    public func resolve(_ selector: CheckpointSelector, verify: Bool = false) throws -> Resolution {
        switch selector {
        case .latest:
            guard let r = try latest(verify: verify) else {
                throw ResumableError(.notFound, "the run \(directory) has no committed checkpoint.", path: directory)
            }
            return r
        case .best(let monitor):
            guard let c = try best(by: monitor) else {
                let metric = (monitor ?? run.monitor)?.metric ?? "?"
                throw ResumableError(.notFound, "no checkpoint of \(directory) records the metric \"\(metric)\".", path: directory)
            }
            return Resolution(checkpoint: c, skipped: [])
        case .step(let s):
            return Resolution(checkpoint: try checkpoint(step: s), skipped: [])
        }
    }
}
