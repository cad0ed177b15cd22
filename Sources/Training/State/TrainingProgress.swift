/// A running mean (sum and count), exact to resume.
public struct RunningMean: Sendable, Hashable, Codable {
    /// The sum of the values.
    public var sum: Double = 0
    /// How many values.
    public var count: Int = 0

    /// An empty mean.
    public init() {}

    /// Adds a value.
    public mutating func add(_ value: Double) {
        sum += value
        count += 1
    }

    /// The mean, or NaN when empty.
    public var mean: Double { count > 0 ? sum / Double(count) : .nan }
}

/// How far training has come: steps, epochs, and the running means of the
/// epoch in progress.
public struct TrainingProgress: Sendable, Hashable, Codable {
    /// Optimizer steps completed (the checkpoint step).
    public var step: Int64 = 0
    /// Epochs completed.
    public var completedEpochs: Int64 = 0
    /// Epochs asked for.
    public var totalEpochs: Int64
    /// Running means of the epoch in progress (`train_loss`).
    public var epochMeans: [String: RunningMean] = [:]
    /// Whether training has ended (all epochs done, or stopped early).
    public var isFinished = false
    /// Why it ended: `completed` or `early_stopping`.
    public var finishReason: String?

    /// Progress at the start of training for `totalEpochs` epochs.
    public init(totalEpochs: Int64) { self.totalEpochs = totalEpochs }
}
