public import CheckpointStore

/// What the training loop reports as it goes (for progress displays).
public enum TrainingEvent: Sendable {
    /// Training begins: afresh (`nil`) or from a checkpoint.
    case started(resumedFrom: Checkpoint?, state: TrainingState)
    /// An optimizer step finished, with its metrics.
    case stepFinished(step: Int64, epoch: Int64, batch: Int, batchesPerEpoch: Int, metrics: [String: Double])
    /// An epoch finished; `improved` when it set a new best.
    case epochFinished(EpochRecord, improved: Bool)
    /// A save begins at `step` for `reason` (`epoch`, `steps`, `time`, `end`, `signal`).
    case saving(step: Int64, reason: String)
    /// A checkpoint was committed.
    case saved(Checkpoint)
    /// A stop signal was received; the loop saves and stops.
    case interrupted(signal: Int32)
}

/// The program's part of the loop: one training step, evaluation, and
/// optional adjustments.
public struct TrainingHooks {
    /// Trains on one batch (example indices from the cursor); returns the
    /// step's metrics (`train_loss`), averaged over the epoch by the loop.
    public var trainStep: (inout TrainingState, ArraySlice<Int>) throws -> [String: Double]
    /// Evaluates the model (`val_loss`, `val_accuracy`). It must not change anything the state holds.
    public var evaluate: (TrainingState) throws -> [String: Double]
    /// Adjusts a restored state to a changed config (only changeable keys
    /// differ, e.g. a new `lr` rebuilds the schedule). Called after `restore`
    /// whenever the fingerprint differs from the checkpoint's, with the keys
    /// that differ (empty when they cannot be told apart).
    public var reconfigure: (inout TrainingState, [TrainingConfig.Difference]) throws -> Void
    /// Receives progress.
    public var observe: (TrainingEvent) -> Void
    /// Called with each draft before it is committed (to add files).
    public var beforeCommit: (CheckpointDraft) throws -> Void

    /// Hooks; only the step and evaluation are required.
    public init(
        trainStep: @escaping (inout TrainingState, ArraySlice<Int>) throws -> [String: Double],
        evaluate: @escaping (TrainingState) throws -> [String: Double],
        reconfigure: @escaping (inout TrainingState, [TrainingConfig.Difference]) throws -> Void = { _, _ in },
        observe: @escaping (TrainingEvent) -> Void = { _ in },
        beforeCommit: @escaping (CheckpointDraft) throws -> Void = { _ in }
    ) {
        self.trainStep = trainStep
        self.evaluate = evaluate
        self.reconfigure = reconfigure
        self.observe = observe
        self.beforeCommit = beforeCommit
    }
}

/// How a training run ended (an interruption is thrown as `.interrupted`).
public struct TrainingResult: Sendable {
    /// Why it ended.
    public enum Reason: String, Sendable {
        /// Every epoch ran.
        case completed
        /// Early stopping fired.
        case earlyStopping = "early_stopping"
        /// The run had already finished; nothing was trained.
        case alreadyFinished = "already_finished"
    }

    /// Why it ended.
    public var reason: Reason
    /// The final state.
    public var state: TrainingState
    /// The last checkpoint, if any.
    public var checkpoint: Checkpoint?
    /// The checkpoint this attempt resumed from, if any.
    public var resumedFrom: Checkpoint?
}
