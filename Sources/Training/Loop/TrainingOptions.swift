public import CheckpointStore
public import Logging

/// How a training loop saves, resumes and stops.
public struct TrainingOptions: Sendable {
    /// The run directory (`runs/digits`).
    public var runDirectory: String
    /// How to start.
    public var resume: ResumeMode
    /// Allows `resume: .never` to delete a run's checkpoints, and an explicit
    /// older reference to discard the run's newer ones.
    public var overwrite: Bool
    /// The configuration, fingerprinted into `run.json`.
    public var config: TrainingConfig
    /// When to save.
    public var saveTriggers: SaveTriggers
    /// Retention applied after each commit; `nil` keeps everything.
    public var retention: RetentionPolicy?
    /// The signals that mean "save and stop".
    public var signals: [Int32]
    /// Verify checksums of the checkpoint resumed from (falling back past corrupt ones).
    public var verifiesOnResume: Bool
    /// Evaluate the model for the manifest's metrics when saving mid-epoch
    /// (the evaluation must not change the state).
    public var evaluatesMidEpochSaves: Bool
    /// Save in the background with an ``AsyncCheckpointWriter``: the loop is
    /// blocked only while the state is copied (and, when a save comes while
    /// the previous one is still being written, until that one is committed).
    /// The save on a stop signal and the one at the end are waited for
    /// before the loop reports them, and a background save's error is thrown
    /// at the next save (or step boundary, or the end). Checkpoints are the
    /// same as synchronous ones. Costs one copy of the state's tensors in memory.
    public var asynchronousSaves: Bool
    /// Receives notices: resume, fallback, config changes.
    public var logger: Logger

    /// Options for the run at `runDirectory`.
    public init(
        runDirectory: String, resume: ResumeMode = .auto, overwrite: Bool = false,
        config: TrainingConfig = TrainingConfig([:]), saveTriggers: SaveTriggers = SaveTriggers(),
        retention: RetentionPolicy? = nil, signals: [Int32] = InterruptFlag.defaultSignals,
        verifiesOnResume: Bool = true, evaluatesMidEpochSaves: Bool = true, asynchronousSaves: Bool = false,
        logger: Logger = Logger(label: "resumable.training")
    ) {
        self.runDirectory = runDirectory
        self.resume = resume
        self.overwrite = overwrite
        self.config = config
        self.saveTriggers = saveTriggers
        self.retention = retention
        self.signals = signals
        self.verifiesOnResume = verifiesOnResume
        self.evaluatesMidEpochSaves = evaluatesMidEpochSaves
        self.asynchronousSaves = asynchronousSaves
        self.logger = logger
    }
}
