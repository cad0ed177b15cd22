public import CheckpointStore

/// Stops training when a monitored metric has not improved for `patience`
/// epochs. Its counter and best value are part of the saved state, so a
/// resumed run stops at the same epoch as an uninterrupted one.
public struct EarlyStopping: Sendable, Hashable, Codable {
    /// The metric watched (`val_loss`).
    public var metric: String
    /// Whether smaller (`min`) or larger (`max`) is better, as a string.
    public var mode: String
    /// Epochs without improvement tolerated.
    public var patience: Int
    /// The smallest change that counts as an improvement.
    public var minimumDelta: Double
    /// The best value seen, if any.
    public var bestValue: Double?
    /// Epochs since the last improvement.
    public var epochsWithoutImprovement: Int
    /// The epoch (1-based count of completed epochs) at which it fired, if it did.
    public var stoppedAtEpoch: Int64?

    /// Early stopping on `metric`.
    public init(metric: String, mode: MetricMode, patience: Int, minimumDelta: Double = 0) {
        self.metric = metric
        self.mode = mode.rawValue
        self.patience = patience
        self.minimumDelta = minimumDelta
        self.bestValue = nil
        self.epochsWithoutImprovement = 0
        self.stoppedAtEpoch = nil
    }

    /// Whether it has fired.
    public var hasStopped: Bool { stoppedAtEpoch != nil }

    /// Records one epoch's metrics; returns `true` when training should stop.
    public mutating func update(metrics: [String: Double], completedEpochs: Int64) -> Bool {
        guard let value = metrics[metric], !value.isNaN else { return hasStopped }
        let isMin = mode == MetricMode.min.rawValue
        if let best = bestValue {
            let improved = isMin ? value < best - minimumDelta : value > best + minimumDelta
            if improved {
                bestValue = value
                epochsWithoutImprovement = 0
            } else {
                epochsWithoutImprovement += 1
            }
        } else {
            bestValue = value
        }
        if epochsWithoutImprovement >= patience && stoppedAtEpoch == nil {
            stoppedAtEpoch = completedEpochs
        }
        return hasStopped
    }
}
