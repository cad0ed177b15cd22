import CheckpointStore
import DurableFiles
import JSON
import Logging

/// One attempt of a training loop: the open store, the live state and what
/// was saved when.
final class TrainingSession {
    let options: TrainingOptions
    let hooks: TrainingHooks
    let store: CheckpointStore
    var state: TrainingState
    var logger: Logger { options.logger }
    /// The checkpoint this attempt resumed from.
    var resumedFrom: Checkpoint?
    /// The last checkpoint committed or resumed from.
    var lastCheckpoint: Checkpoint?
    var lastSavedStep: Int64?
    var lastSaveTime = ContinuousClock.now
    /// Set by `prepare()` when the run had already finished.
    var finishedResult: TrainingResult?
    /// Writes checkpoints in the background when `options.asynchronousSaves` is on.
    let writer: AsyncCheckpointWriter?
    /// Whether the writer holds a save whose commit has not been reported yet.
    var savePending = false
    /// Steps retention must keep for this attempt (the checkpoint resumed from);
    /// the training's best epoch is added at each save.
    var resumeProtected: Set<Int64> = []

    init(options: TrainingOptions, hooks: TrainingHooks, store: CheckpointStore, state: TrainingState) {
        self.options = options
        self.hooks = hooks
        self.store = store
        self.state = state
        self.writer = options.asynchronousSaves ? AsyncCheckpointWriter(store: store, whenBusy: .wait) : nil
    }

    // MARK: Training

    func train() throws -> TrainingResult {
        lastSaveTime = ContinuousClock.now
        if let writer { writer.prepareBuffers(for: try state.checkpointContents().tensorFiles.flatMap(\.tensors)) }
        hooks.observe(.started(resumedFrom: resumedFrom, state: state))
        while !state.progress.isFinished {
            try collectFinishedSave()
            if let signal = InterruptFlag.received { try stop(on: signal) }
            if state.progress.completedEpochs >= state.progress.totalEpochs {
                finish(reason: .completed)
                break
            }
            guard let batch = state.cursor.nextBatch() else {
                try endEpoch()
                continue
            }
            let metrics = try hooks.trainStep(&state, batch)
            state.progress.step += 1
            for (name, value) in metrics { state.progress.epochMeans[name, default: RunningMean()].add(value) }
            hooks.observe(
                .stepFinished(
                    step: state.progress.step, epoch: state.progress.completedEpochs, batch: state.cursor.batchIndex,
                    batchesPerEpoch: state.cursor.batchesPerEpoch, metrics: metrics))
            if state.cursor.isAtEndOfEpoch {
                try endEpoch()
            } else if let reason = stepTrigger() {
                try save(reason: reason, metrics: nil)
            }
        }
        if options.saveTriggers.atEnd { try save(reason: "end", metrics: state.history.last?.metrics) }
        try collectSave()
        let reason: TrainingResult.Reason = state.progress.finishReason == TrainingResult.Reason.earlyStopping.rawValue
            ? .earlyStopping : .completed
        try? store.events.append(
            TrainingJournalEvent.finish,
            [
                "step": .int(state.progress.step), "epoch": .int(state.progress.completedEpochs),
                "total_epochs": .int(state.progress.totalEpochs), "reason": .string(reason.rawValue),
                "best_score": state.best.value.map(JSONValue.number) ?? .null,
                "best_epoch": state.best.epoch.map(JSONValue.int) ?? .null, "monitor": .string(state.best.metric),
            ])
        logger.info(
            "Training finished (\(reason.rawValue)) after \(state.progress.completedEpochs) epoch(s), step \(state.progress.step).")
        return TrainingResult(reason: reason, state: state, checkpoint: lastCheckpoint, resumedFrom: resumedFrom)
    }

    /// Which step-boundary trigger fires now, if any.
    func stepTrigger() -> String? {
        let triggers = options.saveTriggers
        if let n = triggers.everySteps, n > 0, state.progress.step % n == 0 { return "steps" }
        if let seconds = triggers.everySeconds, seconds >= 0,
            ContinuousClock.now - lastSaveTime >= .milliseconds(Int64(seconds * 1000))
        {
            return "time"
        }
        return nil
    }

    /// Closes the epoch: evaluation, history, best, early stopping, next
    /// epoch's cursor, and the epoch's save.
    func endEpoch() throws {
        var metrics = state.progress.epochMeans.mapValues(\.mean)
        metrics["lr"] = state.schedule.learningRate(atStep: max(0, state.progress.step - 1))
        for (name, value) in try hooks.evaluate(state) { metrics[name] = value }
        state.progress.completedEpochs += 1
        let epoch = state.progress.completedEpochs
        let record = EpochRecord(epoch: epoch, step: state.progress.step, metrics: metrics)
        state.history.append(record)
        let improved = state.best.update(metrics: metrics, epoch: epoch, step: state.progress.step)
        let stop = state.earlyStopping?.update(metrics: metrics, completedEpochs: epoch) ?? false
        state.progress.epochMeans = [:]
        state.cursor.beginNextEpoch()
        hooks.observe(.epochFinished(record, improved: improved))
        if stop {
            finish(reason: .earlyStopping)
            logger.info("Early stopping: \(state.best.metric) has not improved for \(state.earlyStopping?.patience ?? 0) epoch(s).")
        } else if epoch >= state.progress.totalEpochs {
            finish(reason: .completed)
        }
        let triggers = options.saveTriggers
        if let n = triggers.everyEpochs, n > 0, epoch % n == 0 {
            try save(reason: "epoch", metrics: metrics)
        } else if let reason = stepTrigger() {
            try save(reason: reason, metrics: metrics)
        }
    }

    func finish(reason: TrainingResult.Reason) {
        state.progress.isFinished = true
        state.progress.finishReason = reason.rawValue
    }

    /// Saves (when asked to on signals) and throws `.interrupted`.
    func stop(on signal: Int32) throws -> Never {
        let name = SignalName.name(of: signal)
        hooks.observe(.interrupted(signal: signal))
        logger.info("Received \(name); saving at step \(state.progress.step) and stopping.")
        if options.saveTriggers.onSignal { try save(reason: "signal", metrics: nil) }
        try collectSave()
        try? store.events.append(
            TrainingJournalEvent.interrupt,
            ["signal": .string(name), "step": .int(state.progress.step), "epoch": .int(state.progress.completedEpochs)])
        let saved = lastSavedStep.map { "step \($0)" } ?? "nothing yet"
        throw ResumableError(
            .interrupted,
            "stopped by \(name) at step \(state.progress.step) (epoch \(state.progress.completedEpochs) of \(state.progress.totalEpochs)); the last checkpoint is \(saved). Run the same command again to continue.",
            path: store.directory)
    }

    // MARK: Saving

    /// Commits the state at the current step, unless it was just saved; with
    /// asynchronous saves, waits for the save in flight, then snapshots the
    /// state and leaves the commit to the writer's thread.
    /// - Parameter metrics: the manifest's metrics; `nil` mid-epoch (the
    ///   running train loss and, if enabled, a fresh evaluation are used).
    func save(reason: String, metrics: [String: Double]?) throws {
        let step = state.progress.step
        guard lastSavedStep != step else { return }
        var manifestMetrics: [String: Double]
        if let metrics {
            manifestMetrics = metrics
        } else {
            manifestMetrics = state.progress.epochMeans.mapValues(\.mean)
            manifestMetrics["lr"] = state.learningRate
            if options.evaluatesMidEpochSaves {
                for (name, value) in try hooks.evaluate(state) { manifestMetrics[name] = value }
            }
        }
        // The store is the writer's while a save is in flight (policy `.wait`).
        try collectSave()
        // Retention never deletes the checkpoint of the training's best epoch,
        // so the summary's `best_step` always names a checkpoint that exists.
        store.protectedSteps = resumeProtected.union(state.best.step.map { [$0] } ?? [])
        try clearCollision(at: step)
        hooks.observe(.saving(step: step, reason: reason))
        let (options, hooks) = (options, hooks)
        let describe = { (draft: CheckpointDraft) throws in
            draft.metrics = manifestMetrics
            draft.extra["config"] = .object(options.config.values)
            if reason == "signal" || reason == "end" { draft.metadata["saved_on"] = .string(reason) }
            try hooks.beforeCommit(draft)
        }
        if let writer {
            try state.save(with: writer, step: step, configure: describe)
            savePending = true
        } else {
            let checkpoint = try store.commit(step: step) { draft in
                try state.save(to: draft)
                try describe(draft)
            }.checkpoint
            lastCheckpoint = checkpoint
            hooks.observe(.saved(checkpoint))
        }
        lastSavedStep = step
        lastSaveTime = ContinuousClock.now
    }

    /// A step directory already at `step` can only be one passed over as
    /// damaged when resuming (or left by a run that was discarded): it is
    /// removed, crash-safely, so the new checkpoint can take its place.
    func clearCollision(at step: Int64) throws {
        let directory = store.directory(of: step)
        guard FileSystem.exists(directory) else { return }
        logger.warning(
            "Replacing \(directory), which is not part of this run's history any more (damaged, or after the checkpoint resumed from).")
        try store.delete(step: step)
        try? store.events.append(TrainingJournalEvent.discard, ["step": .int(step), "reason": .string("replaced by a resumed run")])
    }
}
