/// Where training stands in its data: this epoch's order of examples and the
/// position of the next batch in it, with the generator that draws each
/// epoch's order.
///
/// Saved with the training state, it makes a resume in the middle of an epoch
/// continue with exactly the batch that would have come next: no batch is
/// repeated, none skipped.
public struct DataCursor: Sendable, Hashable, Codable {
    /// The number of examples.
    public var exampleCount: Int
    /// Examples per batch.
    public var batchSize: Int
    /// Whether a last, smaller batch is dropped.
    public var dropsLastBatch: Bool
    /// Whether each epoch visits examples in a fresh random order.
    public var shuffles: Bool
    /// The epoch `order` belongs to (0-based).
    public var epoch: Int64
    /// This epoch's order of example indices; empty until the epoch's first batch.
    public var order: [Int]
    /// The index in `order` where the next batch starts.
    public var position: Int
    /// Draws each epoch's order.
    public var generator: Xoshiro256StarStar

    /// A cursor at the start of epoch 0.
    /// - Parameters:
    ///   - seed: seeds the generator that draws the orders.
    public init(exampleCount: Int, batchSize: Int, seed: UInt64, shuffles: Bool = true, dropsLastBatch: Bool = false) {
        self.exampleCount = exampleCount
        self.batchSize = max(1, batchSize)
        self.dropsLastBatch = dropsLastBatch
        self.shuffles = shuffles
        self.epoch = 0
        self.order = []
        self.position = 0
        self.generator = Xoshiro256StarStar(seed: seed)
    }

    /// Batches in one epoch.
    public var batchesPerEpoch: Int {
        dropsLastBatch ? exampleCount / batchSize : (exampleCount + batchSize - 1) / batchSize
    }

    /// The batch index inside the epoch of the next batch (batches done so far).
    public var batchIndex: Int { (position + batchSize - 1) / batchSize }

    /// Whether this epoch has no batch left.
    public var isAtEndOfEpoch: Bool { batchIndex >= batchesPerEpoch }

    /// The example indices of the next batch of this epoch, advancing the
    /// cursor; `nil` when the epoch is done (call `beginNextEpoch()`).
    public mutating func nextBatch() -> ArraySlice<Int>? {
        guard !isAtEndOfEpoch, exampleCount > 0 else { return nil }
        if order.isEmpty { drawOrder() }
        let end = min(position + batchSize, order.count)
        let batch = order[position..<end]
        position = end
        return batch
    }

    /// Moves to the start of the next epoch; its order is drawn at its first batch.
    public mutating func beginNextEpoch() {
        epoch += 1
        order = []
        position = 0
    }

    private mutating func drawOrder() {
        order = Array(0..<exampleCount)
        if shuffles { generator.shuffle(&order) }
    }
}
