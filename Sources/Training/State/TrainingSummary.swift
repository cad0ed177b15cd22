public import JSON

/// The summary of a training state that the manifest carries under the
/// top-level key `training`, so `resumable status` and `ls` can say where
/// training stands without opening `state.json`.
///
/// ```json
/// "training": {"completed_epochs": 12, "total_epochs": 30, "step": 540,
///   "epoch_step": 0, "steps_per_epoch": 45, "best_epoch": 11,
///   "best_score": 0.975, "best_step": 495, "monitor": "val_accuracy", "mode": "max",
///   "finished": false, "finish_reason": null,
///   "history": {"epoch": [1, 2], "train_loss": [...], "val_loss": [...], "val_accuracy": [...]}}
/// ```
public struct TrainingSummary: Sendable, Hashable {
    /// The manifest key.
    public static let manifestKey = "training"

    /// Epochs completed.
    public var completedEpochs: Int64
    /// Epochs asked for.
    public var totalEpochs: Int64
    /// Global step.
    public var step: Int64
    /// Batches done in the epoch in progress.
    public var epochStep: Int64
    /// Batches per epoch.
    public var stepsPerEpoch: Int64
    /// The monitored metric and its mode.
    public var monitor: String
    /// `min` or `max`.
    public var mode: String
    /// The best value so far.
    public var bestScore: Double?
    /// The epoch it was reached at.
    public var bestEpoch: Int64?
    /// The step it was reached at.
    public var bestStep: Int64?
    /// Whether training has ended.
    public var isFinished: Bool
    /// `completed` or `early_stopping` when finished.
    public var finishReason: String?
    /// Per-epoch metric values (`epoch` holds the epoch numbers).
    public var history: [String: [Double]]

    /// The summary as JSON.
    public var json: JSONValue {
        var o: [String: JSONValue] = [
            "completed_epochs": .int(completedEpochs), "total_epochs": .int(totalEpochs), "step": .int(step),
            "epoch_step": .int(epochStep), "steps_per_epoch": .int(stepsPerEpoch), "monitor": .string(monitor),
            "mode": .string(mode), "finished": .bool(isFinished),
            "best_score": bestScore.map(JSONValue.number) ?? .null,
            "best_epoch": bestEpoch.map(JSONValue.int) ?? .null,
            "best_step": bestStep.map(JSONValue.int) ?? .null,
            "finish_reason": finishReason.map(JSONValue.string) ?? .null,
        ]
        o["history"] = .object(history.mapValues { .array($0.map(JSONValue.number)) })
        return .object(o)
    }

    /// Reads a summary from a manifest's `training` value; `nil` when absent or malformed.
    public init?(json: JSONValue?) {
        guard let json, case .object(let o) = json,
            let completed = o["completed_epochs"]?.intValue, let total = o["total_epochs"]?.intValue
        else { return nil }
        completedEpochs = completed
        totalEpochs = total
        step = o["step"]?.intValue ?? 0
        epochStep = o["epoch_step"]?.intValue ?? 0
        stepsPerEpoch = o["steps_per_epoch"]?.intValue ?? 0
        monitor = o["monitor"]?.stringValue ?? ""
        mode = o["mode"]?.stringValue ?? ""
        bestScore = o["best_score"]?.doubleValue
        bestEpoch = o["best_epoch"]?.intValue
        bestStep = o["best_step"]?.intValue
        isFinished = o["finished"]?.boolValue ?? false
        finishReason = o["finish_reason"]?.stringValue
        var history: [String: [Double]] = [:]
        for (k, v) in o["history"]?.objectValue ?? [:] {
            history[k] = (v.arrayValue ?? []).compactMap(\.doubleValue)
        }
        self.history = history
    }

    init(state: TrainingState) {
        completedEpochs = state.progress.completedEpochs
        totalEpochs = state.progress.totalEpochs
        step = state.progress.step
        epochStep = Int64(state.cursor.batchIndex)
        stepsPerEpoch = Int64(state.cursor.batchesPerEpoch)
        monitor = state.best.metric
        mode = state.best.mode
        bestScore = state.best.value
        bestEpoch = state.best.epoch
        bestStep = state.best.step
        isFinished = state.progress.isFinished
        finishReason = state.progress.finishReason
        var history: [String: [Double]] = ["epoch": state.history.records.map { Double($0.epoch) }]
        let names = Set(state.history.records.flatMap { $0.metrics.keys })
        for name in names { history[name] = state.history.records.map { $0.metrics[name] ?? .nan } }
        self.history = history
    }
}

extension TrainingState {
    /// The summary written to the manifest.
    public var summary: TrainingSummary { TrainingSummary(state: self) }
}
