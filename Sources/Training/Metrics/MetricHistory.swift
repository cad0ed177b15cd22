/// One completed epoch's metrics.
public struct EpochRecord: Sendable, Hashable, Codable {
    /// The epoch, 1-based (the count of completed epochs after it).
    public var epoch: Int64
    /// The global step at its end.
    public var step: Int64
    /// Its metrics (`train_loss`, `val_loss`, `val_accuracy`, `lr`).
    public var metrics: [String: Double]

    /// A record.
    public init(epoch: Int64, step: Int64, metrics: [String: Double]) {
        self.epoch = epoch
        self.step = step
        self.metrics = metrics
    }
}

/// Every completed epoch's metrics, oldest first. Saved with the state, so a
/// resumed run's history holds each epoch once.
public struct MetricHistory: Sendable, Hashable, Codable {
    /// The records, by epoch.
    public var records: [EpochRecord] = []

    /// An empty history.
    public init() {}

    /// Appends an epoch.
    public mutating func append(_ record: EpochRecord) { records.append(record) }

    /// One metric's values, by epoch (epochs without it are left out).
    public func values(of metric: String) -> [Double] { records.compactMap { $0.metrics[metric] } }

    /// The latest record.
    public var last: EpochRecord? { records.last }
}
