import Glibc
import CheckpointStore
import DurableFiles
import JSON
import Logging

/// What one attempt came to.
struct AttemptOutcome {
    var termination: ChildTermination
    /// The stop signal the supervisor received during the attempt, if any.
    var stopSignal: Int32?
    /// Whether the group had to be killed (grace period over or a second signal).
    var killed: Bool
    var duration: Double
    /// The latest committed step when the attempt ended.
    var stepReached: Int64?

    func journalFields(attempt: Int) -> [String: JSONValue] {
        var fields = termination.journalFields
        fields["attempt"] = .int(Int64(attempt))
        fields["duration"] = .number((duration * 1000).rounded() / 1000)
        fields["step"] = stepReached.map { .int($0) } ?? .null
        if killed { fields["killed"] = .bool(true) }
        return fields
    }
}

extension Supervisor {
    /// Starts one attempt and waits for it, forwarding stop signals.
    func runAttempt(_ attempt: Int, resumingFrom resume: Checkpoint?, store: CheckpointStore) throws -> AttemptOutcome {
        let config = configuration
        let environment = ChildEnvironment.make(
            base: config.environment, run: store.run, runDirectory: FilePath.absolute(config.runDirectory),
            attempt: attempt, resumeFrom: resume, lockToken: store.lockToken)
        let started = clock.now()
        // The watchdog starts before the job's exec: no process of the job runs unwatched.
        let (child, watchdog) = try ChildProcess.spawnWatched(
            config.command, environment: environment,
            options: ChildProcess.SpawnOptions(directory: config.workingDirectory, output: config.outputDescriptor))
        var start: [String: JSONValue] = [
            "attempt": .int(Int64(attempt)), "pid": .int(Int64(child.pid)),
            "command": .array(config.command.map { .string($0) }),
            "resume_from": resume.map { .string($0.directory) } ?? .null,
            "resume_step": resume.map { .int($0.step) } ?? .null,
        ]
        if let job = config.environment["SLURM_JOB_ID"] {
            start["slurm_job_id"] = .string(job)
            start["slurm_restart_count"] = .int(Int64(config.environment["SLURM_RESTART_COUNT"] ?? "") ?? 0)
        }
        record(store, .start, start)
        logger.info(
            "Attempt \(attempt) started (pid \(child.pid)), \(resume.map { "resuming from step \($0.step)" } ?? "fresh start").")

        if watchdog == nil {
            logger.warning(
                "Could not start the watchdog of attempt \(attempt) (\(String(cString: strerror(errno)))): if this supervisor is killed, processes the job started may outlive it.")
        }
        if !store.recordJob(processGroup: child.processGroup) {
            logger.warning("Could not record the job's process group \(child.processGroup) in \(config.runDirectory)/.lock.")
        }
        let (termination, signal, killed): (ChildTermination, Int32?, Bool)
        do {
            (termination, signal, killed) = try waitFor(child)
        } catch {
            // The job cannot be waited for: do not leave it running unsupervised.
            child.signalGroup(SIGKILL)
            child.reapKilledGroup()
            watchdog?.dismiss()
            store.recordJob(processGroup: nil)
            throw error
        }
        watchdog?.dismiss()
        store.recordJob(processGroup: nil)
        stopLeftoverProcesses(of: attempt)
        return AttemptOutcome(
            termination: termination, stopSignal: signal, killed: killed, duration: clock.now() - started,
            stepReached: (try? store.committedSteps())?.last)
    }

    /// Waits for the child. The first stop signal is forwarded to its group and
    /// starts the grace period; a second one, or the end of the grace period,
    /// kills the group. After a stop signal the rest of the group gets the
    /// remaining grace period to exit; otherwise leftovers are killed at once.
    func waitFor(_ child: ChildProcess) throws -> (ChildTermination, Int32?, Bool) {
        var stopSignal: Int32?
        var deadline = Double.infinity
        var killed = false
        func handle(_ signal: Int32) {
            if stopSignal == nil {
                stopSignal = signal
                deadline = clock.now() + configuration.grace
                logger.info(
                    "Received \(SignalName.name(of: signal)); forwarded to the job (process group \(child.processGroup)), which has \(Self.seconds(configuration.grace)) to exit.")
                child.signalGroup(signal)
            } else if !killed {
                logger.info("Received \(SignalName.name(of: signal)) again; killing the job now.")
                child.signalGroup(SIGKILL)
                killed = true
            }
        }
        var termination: ChildTermination?
        // Short jobs end within milliseconds: look often at first, then every 50 ms.
        var interval = 0.001
        while termination == nil {
            termination = try child.poll()
            if termination != nil { break }
            if let signal = inbox.next(timeout: interval) { handle(signal) }
            interval = min(0.05, interval * 2)
            if !killed && clock.now() >= deadline {
                logger.info("The grace period is over; killing the job (SIGKILL to process group \(child.processGroup)).")
                child.signalGroup(SIGKILL)
                killed = true
            }
        }
        // The leader is gone; its group may live on.
        if stopSignal == nil {
            if child.groupIsAlive {
                logger.debug("Killing processes left in group \(child.processGroup) by the ended attempt.")
                child.signalGroup(SIGKILL)
            }
        } else {
            while child.groupIsAlive && !killed && clock.now() < deadline {
                child.reapGroupMembers()
                if let signal = inbox.next(timeout: 0.05) { handle(signal) }
            }
            if child.groupIsAlive {
                child.signalGroup(SIGKILL)
                killed = true
            }
        }
        if killed || stopSignal == nil { child.reapKilledGroup() } else { child.reapGroupMembers() }
        return (termination ?? .exited(0), stopSignal, killed)
    }
}
