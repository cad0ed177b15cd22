public import CheckpointStore
import SafeTensors
import DurableFiles

extension TrainingState {
    /// The file names of a training checkpoint.
    public enum FileName {
        /// Parameters and buffers.
        public static let model = "model.safetensors"
        /// Optimizer slots.
        public static let optimizer = "optimizer.safetensors"
        /// Everything that is not a tensor.
        public static let state = "state.json"
    }

    /// The `format` of `state.json`.
    public static let stateFormat = "resumable.training"
    /// The `version` of `state.json` this release writes and reads.
    public static let stateVersion = 1

    /// The non-tensor part, as written to `state.json`.
    struct Saved: Codable, Sendable {
        var format: String
        var version: Int
        var optimizer: OptimizerState.Scalars
        var schedule: LearningRateSchedule
        var progress: TrainingProgress
        var generators: [String: Xoshiro256StarStar]
        var cursor: DataCursor
        var earlyStopping: EarlyStopping?
        var history: MetricHistory
        var best: BestScore
        var scalars: [String: Double]
        var bufferNames: [String]
    }

    /// Writes the whole state into `draft`: tensors to safetensors files, the
    /// rest to `state.json`, and the summary to the manifest's `training` key.
    public func save(to draft: CheckpointDraft) throws {
        let contents = try checkpointContents()
        for file in contents.tensorFiles {
            try draft.writeTensors(file.tensors, metadata: file.metadata, named: file.name)
        }
        for file in contents.files { try draft.writeFile(named: file.name, bytes: file.bytes) }
        describe(in: draft)
    }

    /// The files of a checkpoint of this state, as `save(to:)` writes them:
    /// the tensor files (whose sources read this state's arrays, no copy) and
    /// `state.json`'s bytes.
    /// - Throws: `.usage` when the state cannot be encoded.
    func checkpointContents() throws -> (
        tensorFiles: [(name: String, tensors: [TensorSource], metadata: [String: String])],
        files: [(name: String, bytes: [UInt8])]
    ) {
        var tensorFiles: [(name: String, tensors: [TensorSource], metadata: [String: String])] = [
            (FileName.model, parameters.tensorSources() + buffers.tensorSources(prefix: "buffers."), [:])
        ]
        var slotSources: [TensorSource] = []
        for slot in optimizer.slots.keys.sorted() {
            slotSources += optimizer.slots[slot]?.tensorSources(prefix: slot + ".") ?? []
        }
        if !slotSources.isEmpty { tensorFiles.append((FileName.optimizer, slotSources, [:])) }
        let saved = Saved(
            format: Self.stateFormat, version: Self.stateVersion, optimizer: optimizer.scalars, schedule: schedule,
            progress: progress, generators: generators, cursor: cursor, earlyStopping: earlyStopping,
            history: history, best: best, scalars: scalars, bufferNames: buffers.names)
        return (tensorFiles, [(FileName.state, try CheckpointDraft.encodedState(saved))])
    }

    /// Records the epoch and the summary (the manifest's `training` key) on `draft`.
    func describe(in draft: CheckpointDraft) {
        draft.epoch = progress.completedEpochs
        draft.extra[TrainingSummary.manifestKey] = summary.json
    }

    /// Replaces this state with the one saved in `checkpoint`.
    ///
    /// The model's declared tensors (this state's `parameters`, `buffers` and
    /// optimizer slots) are the template: a checkpoint whose tensors differ in
    /// name, dtype or shape is refused.
    /// - Throws: `.corrupt` for a checkpoint of another model or a damaged
    ///   state; `.unsupportedVersion` for a newer `state.json`.
    public mutating func restore(from checkpoint: Checkpoint) throws {
        let saved: Saved = try checkpoint.decodeState(Saved.self, named: FileName.state)
        let statePath = checkpoint.path(of: FileName.state)
        guard saved.format == Self.stateFormat else {
            throw ResumableError(
                .corrupt, "\(statePath) is not a Resumable training state (format \"\(saved.format)\").", path: statePath)
        }
        guard saved.version == Self.stateVersion else {
            throw ResumableError(
                .unsupportedVersion,
                "\(statePath) has training-state version \(saved.version); this release reads version \(Self.stateVersion). Upgrade to resume it.",
                path: statePath)
        }
        let model = try checkpoint.tensors(named: FileName.model)
        let restoredParameters = try TensorSet.read(like: parameters, from: model)
        let restoredBuffers = try TensorSet.read(like: buffers, prefix: "buffers.", from: model)
        var restoredOptimizer = OptimizerState(
            kind: saved.optimizer.kind, stepCount: saved.optimizer.stepCount,
            hyperparameters: saved.optimizer.hyperparameters)
        if !saved.optimizer.slotNames.isEmpty {
            let file = try checkpoint.tensors(named: FileName.optimizer)
            for slot in saved.optimizer.slotNames {
                restoredOptimizer.slots[slot] = try TensorSet.read(like: parameters, prefix: slot + ".", from: file)
            }
        }
        guard saved.cursor.exampleCount == cursor.exampleCount else {
            throw ResumableError(
                .corrupt,
                "\(statePath) was saved for a data set of \(saved.cursor.exampleCount) training examples, but this program has \(cursor.exampleCount). Resume with the same data.",
                path: statePath)
        }
        parameters = restoredParameters
        buffers = restoredBuffers
        optimizer = restoredOptimizer
        schedule = saved.schedule
        progress = saved.progress
        generators = saved.generators
        cursor = saved.cursor
        earlyStopping = saved.earlyStopping
        history = saved.history
        best = saved.best
        scalars = saved.scalars
    }
}
