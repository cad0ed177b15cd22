public import CheckpointStore

/// The best value of a monitored metric so far, and when it was reached.
public struct BestScore: Sendable, Hashable, Codable {
    /// The metric (`val_accuracy`).
    public var metric: String
    /// `min` or `max`.
    public var mode: String
    /// The best value, if any epoch has reported the metric.
    public var value: Double?
    /// The epoch (1-based) it was reached at.
    public var epoch: Int64?
    /// The global step it was reached at.
    public var step: Int64?

    /// Tracking `monitor`.
    public init(monitor: Monitor) {
        metric = monitor.metric
        mode = monitor.mode.rawValue
    }

    /// The monitor this tracks.
    public var monitor: Monitor { Monitor(metric: metric, mode: MetricMode(rawValue: mode) ?? .min) }

    /// Records an epoch's metrics; returns whether it improved on the best.
    /// Only a strictly better value improves (`Monitor.isBetter`): an epoch
    /// that ties the best leaves the earlier one best, as the store's `best` does.
    @discardableResult
    public mutating func update(metrics: [String: Double], epoch: Int64, step: Int64) -> Bool {
        guard let candidate = metrics[metric], !candidate.isNaN else { return false }
        if let value, !monitor.isBetter(candidate, than: value) { return false }
        value = candidate
        self.epoch = epoch
        self.step = step
        return true
    }
}
