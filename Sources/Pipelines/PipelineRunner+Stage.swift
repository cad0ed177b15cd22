import Glibc
import CheckpointStore
import DurableFiles
import JSON
import Logging
import Supervisor
import Synchronization

extension PipelineRunner {
    /// Runs one stage to its end: attempts (1 + `retries`), each under a
    /// supervisor; then its outputs are made durable, hashed and recorded.
    /// Runs on a thread of its own (the stage's job is bound to it).
    func runStage(_ stage: StageSpec, keeper: LedgerKeeper, runDirectory: String, forceFresh: Bool) -> StageEnd {
        let name = stage.name
        var stageLogger = logger
        stageLogger[metadataKey: "stage"] = "\(name)"
        do {
            let stageDirectory = FilePath.join(FilePath.join(runDirectory, "stages"), name)
            // Never through a link: the stage's run directory is a real directory or nothing yet.
            try FileSystem.requireMissingOr(.directory, stageDirectory)
            let before = keeper.snapshot().record(name)
            let resumes = !forceFresh && [.interrupted, .failed].contains(before.observedStatus)
            let fingerprint = try StageFingerprint.current(of: stage, in: spec, ledger: keeper.snapshot())
            if resumes {
                if let recorded = before.fingerprint, let change = fingerprint.change(since: recorded) {
                    stageLogger.notice(
                        "\(change) since its last attempt; it resumes from its own latest checkpoint all the same. To start it from scratch: resumable pipeline run \(spec.file) --from \(name)")
                }
            } else {
                try moveAside(stageDirectory, stage: name, runDirectory: runDirectory, logger: stageLogger)
            }
            try FileSystem.createOwnedDirectory(stageDirectory)

            let attempts = 1 + (stage.retries ?? 0)
            var lastFailure = ""
            for attempt in 1...attempts {
                if stopSignal.load(ordering: .acquiring) != 0 { return .interrupted }
                let outcome = try runAttempt(stage, stageDirectory: stageDirectory, fingerprint: fingerprint, keeper: keeper, logger: stageLogger)
                switch outcome {
                case .finished(let tail):
                    return try complete(stage, runDirectory: runDirectory, stageDirectory: stageDirectory, tail: tail, keeper: keeper, logger: stageLogger)
                case .interrupted:
                    try keeper.update(name) { r in
                        r.status = .interrupted
                        r.owner = nil
                        r.progress = Self.progress(of: stageDirectory, otherwise: r.progress)
                    }
                    stageLogger.notice("Stopped; it resumes from its latest checkpoint at the next run.")
                    return .interrupted
                case .failed(let code, let message, let tail):
                    lastFailure = message
                    try keeper.update(name) { r in
                        r.markFailed(exitCode: code, errorTail: tail + [message])
                        r.progress = Self.progress(of: stageDirectory, otherwise: r.progress)
                    }
                    if attempt < attempts && stopSignal.load(ordering: .acquiring) == 0 {
                        stageLogger.notice("Attempt \(attempt) of \(attempts) failed (\(message)); starting it again (retries: \(attempts - 1)).")
                    }
                }
            }
            return .failed(lastFailure)
        } catch {
            let message = (error as? ResumableError)?.message ?? "\(error)"
            stageLogger.error("\(message)")
            try? keeper.update(name) { r in
                if r.status == .inProgress { r.markFailed(exitCode: nil, errorTail: [message]) }
            }
            return .failed(message)
        }
    }

    /// One attempt's end, from the stage's supervisor.
    enum AttemptEnd {
        case finished(tail: [String])
        case interrupted
        case failed(code: Int32?, message: String, tail: [String])
    }

    /// Marks the stage started, runs it under a supervisor with its output
    /// going to `{run}/logs/NAME.log`, and says how it ended.
    private func runAttempt(
        _ stage: StageSpec, stageDirectory: String, fingerprint: StageFingerprint, keeper: LedgerKeeper, logger: Logger
    ) throws -> AttemptEnd {
        try keeper.update(stage.name) { $0.markStarted(fingerprint: fingerprint) }
        let attempt = keeper.snapshot().record(stage.name).attempts

        var configuration = SupervisorConfiguration(runDirectory: stageDirectory, command: stage.command.argv)
        var environment = options.environment
        for (key, value) in stage.env { environment[key] = value }
        environment["RESUMABLE_PIPELINE_RUN_DIR"] = keeper.runDirectory
        environment["RESUMABLE_STAGE"] = stage.name
        if let executable = options.executable, environment["RESUMABLE_BIN"]?.isEmpty ?? true {
            environment["RESUMABLE_BIN"] = executable
        }
        configuration.environment = environment
        configuration.workingDirectory = FilePath.absolute(spec.baseDirectory.isEmpty ? "." : spec.baseDirectory)
        configuration.maxRestarts = stage.maxRestarts ?? options.maxRestarts
        configuration.backoff = options.backoff
        configuration.grace = options.grace
        configuration.preemptSignal = options.preemptSignal

        let job = SupervisedJob(
            configuration: configuration,
            logPath: FilePath.join(FilePath.join(keeper.runDirectory, "logs"), stage.name + ".log"),
            header: "== resumable pipeline: stage \(stage.name), attempt \(attempt), \(Timestamp.now()) ==",
            echo: options.echoOutput ? (options.jobs > 1 ? .prefixed("[\(stage.name)] ") : .raw) : .none)
        let (end, tail) = job.run(
            logger: logger,
            started: { supervisor in
                active.withLock { $0[stage.name] = supervisor }
                // A stop signal that arrived while the stage was being prepared.
                let pending = stopSignal.load(ordering: .acquiring)
                if pending != 0 { supervisor.interrupt(pending) }
            },
            ended: { active.withLock { $0[stage.name] = nil } })
        switch end {
        case .finished: return .finished(tail: tail)
        case .interrupted: return .interrupted
        case .timedOut(let seconds): return .failed(code: nil, message: "stopped after its time limit of \(seconds) s", tail: tail)
        case .failed(let code, let message): return .failed(code: code, message: message, tail: tail)
        }
    }

    /// After the stage exited 0: its outputs are made durable and hashed,
    /// and it is `completed` — or `failed` when a declared output is missing.
    private func complete(
        _ stage: StageSpec, runDirectory: String, stageDirectory: String, tail: [String], keeper: LedgerKeeper, logger: Logger
    ) throws -> StageEnd {
        for path in stage.outputs { Self.makeDurable(FilePath.join(runDirectory, path)) }
        let (outputs, missing) = try StageOutput.measure(stage.outputs, runDirectory: runDirectory)
        if !missing.isEmpty {
            let message = "exited 0 without its declared output\(missing.count == 1 ? "" : "s") \(missing.joined(separator: ", ")) (in \(runDirectory))"
            try keeper.update(stage.name) { r in
                r.markFailed(exitCode: 0, errorTail: tail + [message])
                r.progress = Self.progress(of: stageDirectory, otherwise: r.progress)
            }
            logger.error("Stage \(stage.name) \(message).")
            return .failed(message)
        }
        try keeper.update(stage.name) { r in
            r.markCompleted(outputs: outputs)
            r.progress = Self.progress(of: stageDirectory, otherwise: r.progress)
        }
        let sizes = outputs.map { "\($0.path) (\(HumanFormat.bytes($0.bytes)))" }.joined(separator: ", ")
        logger.notice("Completed\(outputs.isEmpty ? "" : ": \(sizes)").")
        return .completed
    }

    /// A stage that starts from scratch leaves its previous run directory in
    /// `{run}/previous/NAME` (replacing the one kept there before), so it does
    /// not resume from the checkpoints of another version of itself.
    private func moveAside(_ stageDirectory: String, stage: String, runDirectory: String, logger: Logger) throws {
        let found = FileSystem.entryType(stageDirectory)
        if found == .missing { return }
        guard found == .directory else { throw FileSystem.misplacedEntry(stageDirectory, found: found, expected: .directory) }
        if let owner = RunLock.currentOwner(directory: stageDirectory) {
            throw ResumableError(
                .locked, "the run directory of stage \(stage), \(stageDirectory), is in use by \(owner). Stop it, then run again.",
                path: stageDirectory)
        }
        let previous = FilePath.join(runDirectory, "previous")
        try FileSystem.createOwnedDirectory(previous)
        let kept = FilePath.join(previous, stage)
        if FileSystem.entryType(kept) != .missing { try FileSystem.removeTree(kept) }
        try FileSystem.rename(stageDirectory, to: kept, replacing: false)
        logger.notice("Starts from scratch; its previous run directory is kept in \(kept).")
    }

    /// fsync of an output and of the directory it is in; a missing output is left to `measure`.
    static func makeDurable(_ path: String) {
        guard FileSystem.entryType(path) == .regular, let fd = try? FileSystem.openRegularFile(path, O_RDONLY) else { return }
        fsync(fd)
        close(fd)
        try? FileSystem.sync(FilePath.parent(of: path))
    }

    /// What the stage reported with `resumable progress`, else its latest
    /// checkpoint's epoch and step, else `fallback`.
    static func progress(of stageDirectory: String, otherwise fallback: [String: JSONValue]) -> [String: JSONValue] {
        if case .report(let report) = RunProgress.read(from: stageDirectory), case .object(let fields) = report.json {
            return fields
        }
        if FileSystem.entryType(FilePath.join(stageDirectory, "run.json")) == .regular,
            let store = try? CheckpointStore(directory: stageDirectory),
            let latest = try? store.latest()?.checkpoint
        {
            return ["epoch": .int(latest.manifest.epoch), "step": .int(latest.step)]
        }
        return fallback
    }
}
