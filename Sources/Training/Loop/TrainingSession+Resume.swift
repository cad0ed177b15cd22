#if canImport(Glibc)
import Glibc
#endif
import CheckpointStore
import DurableFiles
import JSON
import Logging

extension TrainingSession {
    /// Chooses where to start (per the resume mode), checks the config,
    /// restores the state and records `start` or `resume`.
    func prepare() throws {
        let requestedEpochs = state.progress.totalEpochs
        let source = try resolveStart()
        if store.run.monitor == nil {
            let monitor = state.best.monitor
            try store.updateRun { $0.monitor = monitor }
        }
        store.retention = options.retention
        guard let (checkpoint, sourceRun, skipped) = source else {
            try recordConfig(replacing: true)
            try? store.events.append(
                TrainingJournalEvent.start,
                supervisedAttempt(["config_fingerprint": .string(options.config.fingerprint)]))
            logger.info("Starting a fresh run in \(store.directory).")
            return
        }
        let recordedConfig = checkpoint.manifest.extra["config"]?.objectValue ?? sourceRun.config
        let differences = try configDifferences(from: checkpoint, recordedConfig: recordedConfig)
        let configChanged =
            !checkpoint.manifest.configFingerprint.isEmpty
            && checkpoint.manifest.configFingerprint != options.config.fingerprint
        try state.restore(from: checkpoint)
        resumedFrom = checkpoint
        lastCheckpoint = checkpoint
        try checkEpochs(requested: requestedEpochs)
        if configChanged {
            try hooks.reconfigure(&state, differences)
            logger.info("Resuming with changed \(differences.map(\.description).joined(separator: ", ")).")
            try? store.events.append(
                TrainingJournalEvent.configChange,
                [
                    "keys": .array(differences.map { .string($0.key) }),
                    "from": .string(checkpoint.manifest.configFingerprint), "to": .string(options.config.fingerprint),
                ])
        }
        try recordConfig(replacing: configChanged || checkpoint.manifest.configFingerprint.isEmpty)
        if checkpoint.directory.hasPrefix(store.checkpointsDirectory + "/") {
            lastSavedStep = checkpoint.step
            resumeProtected = [checkpoint.step]
            store.protectedSteps = resumeProtected.union(state.best.step.map { [$0] } ?? [])
        }
        try? store.events.append(
            TrainingJournalEvent.resume,
            supervisedAttempt([
                "from": .string(checkpoint.directory), "step": .int(checkpoint.step),
                "epoch": .int(state.progress.completedEpochs), "total_epochs": .int(state.progress.totalEpochs),
                "skipped": .array(skipped.map { .object(["step": .int($0.step), "reason": .string($0.reason)]) }),
            ]))
        logger.info(
            "Resuming from \(checkpoint.directory): step \(checkpoint.step), epoch \(state.progress.completedEpochs) of \(state.progress.totalEpochs), batch \(state.cursor.batchIndex) of \(state.cursor.batchesPerEpoch).")
    }

    /// The checkpoint to start from (with its run and the damaged ones passed
    /// over), or `nil` for a fresh start.
    func resolveStart() throws -> (Checkpoint, RunInfo, [(step: Int64, reason: String)])? {
        switch options.resume {
        case .never:
            try reset(to: nil, event: .reset, reason: "started over") { steps in
                "the run \(store.directory) already has \(steps.count) checkpoint(s) (up to step \(steps.last ?? 0)) and resume mode `never` would start it over. Resume it (mode `auto`), choose another run directory, or allow overwriting (`overwrite: true`) to delete its checkpoints."
            }
            return nil
        case .auto, .must:
            guard let resolution = try store.latest(verify: options.verifiesOnResume) else {
                if case .must = options.resume {
                    throw ResumableError(
                        .notFound,
                        "there is nothing to resume in \(store.directory): it has no good checkpoint. Start it with resume mode `auto` or `never`.",
                        path: store.directory)
                }
                return nil
            }
            // `latest` has said which damaged checkpoints it passed over (one warning).
            return (resolution.checkpoint, store.run, resolution.skipped)
        case .from(let reference):
            let sameRun = FilePath.absolute(reference.run) == FilePath.absolute(store.directory)
            let source = sameRun ? store : try CheckpointStore(directory: reference.run, access: .read, logger: logger)
            let resolution = try source.resolve(reference.selector, verify: options.verifiesOnResume)
            let checkpoint = resolution.checkpoint
            if options.verifiesOnResume {
                let report = try source.verify(checkpoint)
                guard report.isIntact else {
                    throw ResumableError(
                        .corrupt,
                        "\(checkpoint.directory) is damaged (\(report.summary)); resume from another checkpoint.",
                        path: checkpoint.directory)
                }
            }
            if sameRun { try discardNewer(than: checkpoint.step) }
            return (checkpoint, source.run, resolution.skipped)
        }
    }

    /// Resuming a run from an older checkpoint of its own forks it: the newer
    /// checkpoints belong to a history that is being replaced. They are deleted
    /// only when overwriting is allowed.
    func discardNewer(than step: Int64) throws {
        try reset(to: step, event: .discard, reason: "resumed from step \(step)") { newer in
            "\(store.directory) has \(newer.count) checkpoint(s) newer than \(Checkpoint.directoryName(step: step)) (up to step \(newer.last ?? 0)); resuming from it would replace them. Allow overwriting (`overwrite: true`) to delete them, or resume into another run directory."
        }
    }

    /// Deletes every checkpoint (or those after `step`) through the store's
    /// `reset` when overwriting is allowed, recording `event` with `reason`;
    /// otherwise throws `.conflict` with the `refusal` for the steps it would delete.
    func reset(
        to step: Int64?, event: TrainingJournalEvent, reason: String, refusal: ([Int64]) -> String
    ) throws {
        let steps = try store.steps(after: step)
        guard !steps.isEmpty else { return }
        guard options.overwrite else { throw ResumableError(.conflict, refusal(steps), path: store.directory) }
        try store.reset(to: step, recording: event, fields: ["reason": .string(reason)])
        logger.info("Deleted \(steps.count) checkpoint(s) of \(store.directory): \(reason).")
    }

    /// Compares the config with the one the checkpoint was made with.
    /// - Returns: the differing keys, all of them changeable.
    /// - Throws: `.conflict` naming the keys that differ and may not change.
    func configDifferences(from checkpoint: Checkpoint, recordedConfig: [String: JSONValue]) throws
        -> [TrainingConfig.Difference]
    {
        let config = options.config
        let recordedFingerprint = checkpoint.manifest.configFingerprint
        guard !recordedFingerprint.isEmpty, recordedFingerprint != config.fingerprint else { return [] }
        let differences = config.differences(from: recordedConfig)
        let fixed = differences.filter { !config.changeableKeys.contains($0.key) }
        guard fixed.isEmpty else {
            let list = fixed.map(\.description).joined(separator: ", ")
            let changeable = config.changeableKeys.sorted().joined(separator: ", ")
            throw ResumableError(
                .conflict,
                "cannot resume \(store.directory) with a different config: \(list). "
                    + (changeable.isEmpty ? "No key may change on resume. " : "Only \(changeable) may change on resume. ")
                    + "Use the run's values, or start a new run (another run directory, or resume mode `never` with overwriting allowed).",
                path: store.directory)
        }
        return differences
    }

    /// Writes the config and its fingerprint into `run.json`.
    func recordConfig(replacing: Bool) throws {
        let config = options.config
        guard replacing || store.run.configFingerprint.isEmpty, store.run.configFingerprint != config.fingerprint
        else { return }
        try store.updateRun {
            $0.config = config.values
            $0.configFingerprint = config.fingerprint
        }
    }

    /// Sets the requested number of epochs on a restored state, or says
    /// plainly why it cannot.
    func checkEpochs(requested: Int64) throws {
        let done = state.progress.completedEpochs
        if requested < done {
            throw ResumableError(
                .usage,
                "\(store.directory) has already completed \(done) epoch(s); asking for \(requested) is fewer than are done. Ask for \(done) or more epochs to continue it (or to see it finish), or start a new run.",
                path: store.directory)
        }
        let previous = state.progress.totalEpochs
        state.progress.totalEpochs = requested
        if state.progress.isFinished {
            if state.progress.finishReason == TrainingResult.Reason.completed.rawValue && requested > done {
                state.progress.isFinished = false
                state.progress.finishReason = nil
                logger.info("Extending the finished run from \(previous) to \(requested) epochs.")
            } else {
                logger.info(
                    "\(store.directory) already finished (\(state.progress.finishReason ?? "completed")) after \(done) epoch(s); nothing to train.")
                finishedResult = TrainingResult(
                    reason: .alreadyFinished, state: state, checkpoint: lastCheckpoint, resumedFrom: resumedFrom)
            }
        }
    }
}

extension TrainingSession {
    /// `fields` plus `attempt` when this process is an attempt of `resumable run`
    /// on this run (`RESUMABLE_ATTEMPT`, with `RESUMABLE_RUN_DIR` naming it), so
    /// `RunHistory` counts the session as part of that attempt, whichever line
    /// reaches the journal first.
    func supervisedAttempt(_ fields: [String: JSONValue]) -> [String: JSONValue] {
        guard let attempt = getenv("RESUMABLE_ATTEMPT").flatMap({ Int64(String(cString: $0)) }), attempt > 0,
            let runDirectory = getenv("RESUMABLE_RUN_DIR").map({ String(cString: $0) }), !runDirectory.isEmpty,
            FilePath.absolute(runDirectory) == FilePath.absolute(store.directory)
        else { return fields }
        var fields = fields
        fields["attempt"] = .int(attempt)
        return fields
    }
}

/// The training loop's journal events (`source: training`).
typealias TrainingJournalEvent = JournalEvent.Training
