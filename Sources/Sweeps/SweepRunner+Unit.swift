import Glibc
import DurableFiles
import JSON
import Logging
import Pipelines
import Supervisor
import Synchronization

extension SweepRunner {
    /// Runs one unit to its end on the calling (worker) thread: takes its
    /// claim, reads its record again under it, then attempts (while
    /// `attempts ≤ retries`), each under a supervisor; the record is saved
    /// after every change, and the claim released last.
    func runUnit(_ unit: SweepUnit, report: (Message) -> Void) {
        var unitLogger = logger
        unitLogger[metadataKey: "unit"] = "\(unit.key)"
        let logPath = store.logPath(unit.key)
        func end(_ outcome: SweepUnitEnd.Outcome, skip: SweepUnitEnd.SkipReason? = nil, record: UnitRecord? = nil, message: String = "", willRetry: Bool = false) {
            report(
                .ended(
                    SweepUnitEnd(
                        key: unit.key, label: unit.label, outcome: outcome, skipReason: skip, attempt: record?.attempts ?? 0,
                        duration: record?.durationSeconds, exitCode: record?.exitCode, message: message, willRetry: willRetry, logPath: logPath,
                        progress: SweepProgress(name: spec.name, total: 0, done: 0, failed: 0, running: 0, elsewhere: 0, queued: 0, elapsed: 0, eta: nil))))
        }
        if stopSignal.load(ordering: .acquiring) != 0 { return end(.skipped, skip: .stopped, message: "the run was stopped before it started") }

        let claim: UnitClaim
        do {
            guard let held = try store.claim(unit.key) else {
                unitLogger.debug("Claimed by another process; skipped.")
                return end(.skipped, skip: .claimedElsewhere, message: "claimed by another process")
            }
            claim = held
        } catch {
            let message = "cannot claim the unit: \(Self.describe(error))"
            unitLogger.error("\(message)")
            return end(.failed, message: message)
        }
        defer { claim.release() }

        var record: UnitRecord
        do {
            record = try store.record(unit.key) ?? UnitRecord(unit: unit)
        } catch {
            let message = "record damaged, left alone: \(Self.describe(error))"
            unitLogger.error("\(message)")
            return end(.skipped, skip: .damaged, message: message)
        }
        // What another process did while this one planned.
        switch record.observedStatus {
        case .done:
            return end(.skipped, skip: .doneElsewhere, record: record, message: "finished by another process")
        case .failed where record.attempts > spec.retries:
            return end(.skipped, skip: .failedElsewhere, record: record, message: "failed in another process; no retries left")
        case .running:
            // Alive on another host (or not checkable): its claim could not be seen here.
            let owner = record.owner.map { "pid \($0.pid) on \($0.host)" } ?? "another process"
            return end(.skipped, skip: .claimedElsewhere, record: record, message: "running in \(owner)")
        default: break
        }

        let slurm = Self.slurmTask(options.environment)
        while true {
            if stopSignal.load(ordering: .acquiring) != 0 {
                return end(.skipped, skip: .stopped, record: record, message: "the run was stopped before it started")
            }
            record.markStarted(slurm: slurm)
            do {
                try store.save(record)
            } catch {
                let message = "cannot write its record: \(Self.describe(error))"
                unitLogger.error("\(message)")
                return end(.failed, record: record, message: message)
            }
            report(.started(key: unit.key, label: unit.label, attempt: record.attempts))
            let (outcome, message) = attempt(unit, record: record, logger: unitLogger)
            switch outcome {
            case .done(let result): record.markDone(result: result)
            case .interrupted: record.markInterrupted()
            case .failed(let code, let tail): record.markFailed(exitCode: code, errorTail: tail + [message])
            }
            do {
                try store.save(record)
            } catch {
                let saveMessage = "cannot write its record: \(Self.describe(error))"
                unitLogger.error("\(saveMessage)")
                return end(.failed, record: record, message: saveMessage)
            }
            switch outcome {
            case .done:
                unitLogger.debug("Done in \(record.durationSeconds ?? 0) s.")
                return end(.done, record: record)
            case .interrupted:
                unitLogger.info("Stopped; it resumes from its own latest checkpoint at the next run.")
                return end(.interrupted, record: record, message: message)
            case .failed:
                let retry = record.attempts <= spec.retries && stopSignal.load(ordering: .acquiring) == 0
                unitLogger.info("Attempt \(record.attempts) failed: \(message)\(retry ? "; starting it again" : "").")
                end(.failed, record: record, message: message, willRetry: retry)
                if !retry { return }
            }
        }
    }

    /// How one attempt ended.
    enum AttemptOutcome {
        case done(UnitResult)
        case interrupted
        case failed(code: Int32?, tail: [String])
    }

    /// Runs one attempt of `unit` under a supervisor, its output going to
    /// `logs/KEY.log`; then reads its result. Returns the outcome and a message for a failure or stop.
    private func attempt(_ unit: SweepUnit, record: UnitRecord, logger: Logger) -> (AttemptOutcome, String) {
        do {
            try FileSystem.requireMissingOr(.directory, unit.directory)
            try FileSystem.createOwnedDirectory(unit.directory)
        } catch {
            return (.failed(code: nil, tail: []), "cannot create its run directory: \(Self.describe(error))")
        }
        // A result left by an earlier attempt is not this attempt's result.
        if unit.resultPath.hasPrefix(unit.directory + "/"), FileSystem.entryType(unit.resultPath) == .regular {
            _ = unlink(unit.resultPath)
        }

        var configuration = SupervisorConfiguration(runDirectory: unit.directory, command: unit.argv)
        configuration.environment = environment(for: unit)
        configuration.workingDirectory = FilePath.absolute(spec.baseDirectory.isEmpty ? "." : spec.baseDirectory)
        configuration.maxRestarts = spec.setsMaxRestarts ? spec.maxRestarts : options.maxRestarts
        configuration.backoff = options.backoff
        configuration.grace = options.grace
        configuration.preemptSignal = options.preemptSignal

        let parameters = unit.params.map(\.description).joined(separator: " ")
        let job = SupervisedJob(
            configuration: configuration, logPath: store.logPath(unit.key),
            header: "== resumable sweep: unit \(unit.key) (\(parameters)), attempt \(record.attempts), \(Timestamp.now()) ==",
            echo: options.echoOutput ? .prefixed("[\(unit.key)] ") : .none, timeout: spec.timeout)
        let (end, tail) = job.run(
            logger: logger,
            started: { supervisor in
                active.withLock { $0[unit.key] = supervisor }
                // A stop signal that arrived while the unit was being prepared.
                let pending = stopSignal.load(ordering: .acquiring)
                if pending != 0 { supervisor.interrupt(pending) }
            },
            ended: { active.withLock { $0[unit.key] = nil } })
        switch end {
        case .finished:
            switch Self.readResult(of: unit) {
            case .success(let result): return (.done(result), "")
            case .failure(let problem):
                logger.debug("\(problem.message)")
                return (.failed(code: 0, tail: tail), problem.message)
            }
        case .interrupted(let signal):
            return (.interrupted, "stopped by \(SignalName.name(of: signal)); it resumes at the next run")
        case .timedOut(let seconds):
            return (.failed(code: nil, tail: tail), "timed out after \(Self.seconds(seconds)) s (timeout)")
        case .failed(let code, let message):
            return (.failed(code: code, tail: tail), message)
        }
    }

    /// The unit's environment: the runner's, the unit's `env`, then
    /// `RESUMABLE_SWEEP_DIR`, `RESUMABLE_UNIT_KEY`, `RESUMABLE_CACHE_DIR`
    /// (`RUN/cache` unless set) and `RESUMABLE_BIN` (this executable unless
    /// set); the supervisor adds `RESUMABLE_RUN_DIR` and the rest of its contract.
    func environment(for unit: SweepUnit) -> [String: String] {
        var environment = options.environment
        for (key, value) in unit.env { environment[key] = value }
        environment["RESUMABLE_SWEEP_DIR"] = store.directory
        environment["RESUMABLE_UNIT_KEY"] = unit.key
        if environment["RESUMABLE_CACHE_DIR"]?.isEmpty ?? true { environment["RESUMABLE_CACHE_DIR"] = spec.runDirectory + "/cache" }
        if let executable = options.executable, environment["RESUMABLE_BIN"]?.isEmpty ?? true { environment["RESUMABLE_BIN"] = executable }
        return environment
    }

    /// Why a result could not be recorded.
    struct ResultProblem: Error {
        let message: String
    }

    /// Results parsed as JSON are at most this large.
    public static let maxResultBytes = 16 << 20
    /// Results parsed as JSON nest at most this deep (the record around them adds three levels).
    static let maxResultDepth = 60

    /// The result of a unit that exited 0: its result file, a regular file
    /// (never reached through a symbolic link), made durable, then parsed
    /// (a `.json` path: a JSON object of at most 16 MiB) or hashed.
    static func readResult(of unit: SweepUnit) -> Result<UnitResult, ResultProblem> {
        let path = unit.resultPath
        switch FileSystem.entryType(path) {
        case .regular: break
        case .missing: return .failure(ResultProblem(message: "exited 0 without its result file \(path)"))
        case .symbolicLink: return .failure(ResultProblem(message: "its result \(path) is a symbolic link; results are read only from regular files"))
        case .directory: return .failure(ResultProblem(message: "its result \(path) is a directory, not a file"))
        case .other: return .failure(ResultProblem(message: "its result \(path) is a FIFO, socket or device, not a file"))
        }
        // Durable before the record says done.
        if let fd = try? FileSystem.openRegularFile(path, O_RDONLY) {
            fsync(fd)
            close(fd)
            try? FileSystem.sync(FilePath.parent(of: path))
        }
        if unit.resultIsJSON {
            let bytes: [UInt8]
            do {
                bytes = try FileSystem.readFile(path, limit: maxResultBytes)
            } catch let error as ResumableError where error.code == .corrupt && FileSystem.entryType(path) == .regular {
                return .failure(ResultProblem(message: "result \(path) is larger than 16 MiB; write a smaller JSON result, or a result path not ending in .json to record it by hash"))
            } catch {
                return .failure(ResultProblem(message: "cannot read result \(path): \(describe(error))"))
            }
            let value: JSONValue
            do {
                value = try JSONParser(maxDepth: maxResultDepth).parse(bytes)
            } catch {
                return .failure(ResultProblem(message: "result \(path) is not valid JSON: \(error)"))
            }
            guard case .object = value else {
                return .failure(ResultProblem(message: "result \(path) is not valid JSON for a result: a JSON object is expected, not \(value.kindName)"))
            }
            return .success(.json(value))
        }
        do {
            let (sha256, bytes) = try PipelineHash.file(path)
            return .success(.file(path: path, bytes: bytes, sha256: sha256))
        } catch {
            return .failure(ResultProblem(message: "cannot read result \(path): \(describe(error))"))
        }
    }

    /// The Slurm task this process runs in: `SLURM_ARRAY_JOB_ID` and
    /// `SLURM_ARRAY_TASK_ID` for an array task, else `SLURM_JOB_ID`; `nil` outside Slurm.
    static func slurmTask(_ environment: [String: String]) -> SlurmTask? {
        func value(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        if let task = value("SLURM_ARRAY_TASK_ID").flatMap({ Int($0) }), let job = value("SLURM_ARRAY_JOB_ID") ?? value("SLURM_JOB_ID") {
            return SlurmTask(jobID: job, arrayTaskID: task)
        }
        return value("SLURM_JOB_ID").map { SlurmTask(jobID: $0) }
    }

    static func describe(_ error: any Error) -> String {
        (error as? ResumableError)?.message ?? "\(error)"
    }

    /// `5`, `0.5`, `90`.
    static func seconds(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }
}
