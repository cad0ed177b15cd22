/// Everything a training run must carry across a restart, declared once.
///
/// Put the model's parameters in `parameters`, other tensors (running
/// statistics) in `buffers`, the optimizer's state in `optimizer`, and every
/// random generator the program draws from in `generators` (or the cursor's
/// own); the loop driver keeps `progress`, `cursor`, `history`, `best` and
/// `earlyStopping` up to date. `save(to:)` writes all of it into a checkpoint
/// draft and `restore(from:)` reads it back, so a run killed anywhere and
/// resumed ends bit-identical to one that never stopped.
///
/// Checkpoint layout: `model.safetensors` (parameters by name, buffers as
/// `buffers.NAME`), `optimizer.safetensors` (slots as `SLOT.PARAM`) and
/// `state.json` (everything else).
public struct TrainingState: Sendable, Hashable {
    /// The model's trainable tensors.
    public var parameters: TensorSet
    /// Non-trainable tensors (running statistics, masks).
    public var buffers: TensorSet
    /// The optimizer's step count, hyperparameters and moments.
    public var optimizer: OptimizerState
    /// The learning-rate schedule.
    public var schedule: LearningRateSchedule
    /// Steps and epochs done, running means of the current epoch.
    public var progress: TrainingProgress
    /// Named random generators (dropout, augmentation, noise).
    public var generators: [String: Xoshiro256StarStar]
    /// The position in the data.
    public var cursor: DataCursor
    /// Early stopping, if the run uses it.
    public var earlyStopping: EarlyStopping?
    /// Every completed epoch's metrics.
    public var history: MetricHistory
    /// The best monitored value and its epoch.
    public var best: BestScore
    /// Further scalars the program wants carried (counters, flags as 0/1).
    public var scalars: [String: Double]

    /// A fresh state.
    public init(
        parameters: TensorSet, buffers: TensorSet = TensorSet(), optimizer: OptimizerState,
        schedule: LearningRateSchedule, progress: TrainingProgress, generators: [String: Xoshiro256StarStar] = [:],
        cursor: DataCursor, earlyStopping: EarlyStopping? = nil, history: MetricHistory = MetricHistory(),
        best: BestScore, scalars: [String: Double] = [:]
    ) {
        self.parameters = parameters
        self.buffers = buffers
        self.optimizer = optimizer
        self.schedule = schedule
        self.progress = progress
        self.generators = generators
        self.cursor = cursor
        self.earlyStopping = earlyStopping
        self.history = history
        self.best = best
        self.scalars = scalars
    }

    /// The learning rate for the next step.
    public var learningRate: Double { schedule.learningRate(atStep: progress.step) }
}
