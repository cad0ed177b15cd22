/// When the training loop commits a checkpoint. Triggers combine: a save
/// happens when any one fires, and never twice at the same step.
public struct SaveTriggers: Sendable, Hashable {
    /// After every N optimizer steps (global step multiple of N).
    public var everySteps: Int64?
    /// After every N completed epochs.
    public var everyEpochs: Int64?
    /// When this many seconds have passed since the last save (checked at step boundaries).
    public var everySeconds: Double?
    /// When training ends (all epochs done or stopped early).
    public var atEnd: Bool
    /// When a stop signal arrives (then the process exits 75).
    public var onSignal: Bool

    /// Triggers; by default every epoch, at the end and on a signal.
    public init(
        everySteps: Int64? = nil, everyEpochs: Int64? = 1, everySeconds: Double? = nil, atEnd: Bool = true,
        onSignal: Bool = true
    ) {
        self.everySteps = everySteps
        self.everyEpochs = everyEpochs
        self.everySeconds = everySeconds
        self.atEnd = atEnd
        self.onSignal = onSignal
    }
}
