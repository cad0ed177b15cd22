import Glibc
import CheckpointStore
import CSystemShims
import DurableFiles
import JSON
public import Logging

/// Runs a job of any language as a child process and keeps it going:
/// restarts it after failures with exponential backoff, restarts it after
/// exit 75 without counting, stops it on SIGTERM/SIGINT/the preemption signal
/// (forwarded to its process group, killed after a grace period), records
/// every attempt in the run's `events.jsonl`, and under Slurm requeues the job.
///
/// The supervisor opens the run for writing (creating `run.json` with a
/// stable id on the first attempt) and holds its lock for the whole job; the
/// child borrows the lock through `RESUMABLE_LOCK_TOKEN`, so its
/// `resumable commit` works. Before every attempt the resume point is resolved
/// again: the newest checkpoint that verifies.
public final class Supervisor: Sendable {
    /// What is supervised and how.
    public let configuration: SupervisorConfiguration
    /// Progress: attempts, failures, restarts (`.info`), details (`.debug`).
    public let logger: Logger
    let clock: any SupervisorClock
    let inbox: SignalInbox

    /// A supervisor for `configuration`.
    /// - Parameters:
    ///   - clock: time for backoff waits and the grace period; tests inject one that does not sleep.
    ///   - logger: where progress goes.
    /// - Throws: `.io` when the signal pipe cannot be created.
    public init(
        configuration: SupervisorConfiguration, clock: any SupervisorClock = SystemSupervisorClock(),
        logger: Logger = Logger(label: "resumable.supervisor")
    ) throws {
        self.configuration = configuration
        self.clock = clock
        self.logger = logger
        self.inbox = try SignalInbox()
    }

    /// Asks the supervisor to stop the job as if it had received `signal`
    /// (which is forwarded to the child's group). Safe from any thread.
    public func interrupt(_ signal: Int32) { inbox.post(signal) }

    /// Supervises the job until it finishes, restarts run out, or a stop signal arrives.
    /// - Returns: the outcome; its `exitCode` is what `resumable run` exits with.
    /// - Throws: `.locked` when another process writes to the run; `.notFound`
    ///   when the command cannot be started; store errors opening the run.
    public func run() throws -> SupervisorResult {
        let config = configuration
        stopOrphanedJob()
        let store = try CheckpointStore(directory: config.runDirectory, access: .write, create: true, logger: logger)
        defer { store.close() }
        if config.handlesProcessSignals { inbox.receiveProcessSignals(config.stopSignals) }
        defer { if config.handlesProcessSignals { inbox.restoreHandlers() } }
        if config.adoptsOrphans { _ = resumable_become_child_subreaper() }

        // Attempts are numbered over the run's whole journal (only the supervisor's `start` lines count).
        let before = (try? AttemptHistory(journal: store.events)) ?? AttemptHistory()
        var state = LoopState(firstAttempt: before.attempts, earlierRestarts: before.restarts)
        while true {
            state.attempt += 1
            state.startedHere += 1
            let resume = try store.latest(verify: true)?.checkpoint
            let outcome = try runAttempt(state.attempt, resumingFrom: resume, store: store)
            let fields = outcome.journalFields(attempt: state.attempt)

            if outcome.termination.isSuccess {
                record(store, .finish, fields)
                logger.info("Attempt \(state.attempt) finished (exit code 0).")
                return state.result(.finished, exitCode: 0, "the job finished after \(state.describeAttempts()).")
            }
            if let signal = outcome.stopSignal {
                record(store, .preempt, fields.merging(["received_signal": .string(SignalName.name(of: signal))]) { $1 })
                return stop(after: signal, store: store, state: state, ended: outcome.termination)
            }
            if outcome.termination.isPreempted {
                record(store, .preempt, fields)
                state.quickFailures = 0
                guard state.preemptions < config.maxPreemptions else {
                    return giveUp(
                        "max-preemptions",
                        "the job was preempted (exit 75) \(state.preemptions + 1) times under this supervisor; the limit is \(config.maxPreemptions).",
                        store: store, state: state)
                }
                state.preemptions += 1
                let delay = config.backoff.initial
                logger.info("Attempt \(state.attempt) was preempted (exit 75); restarting (not counted).")
                record(store, .restart, ["attempt": .int(Int64(state.attempt + 1)), "counted": .bool(false), "delay": .number(delay), "reason": .string("preempted")])
                if let signal = wait(delay, state: &state) { return stop(after: signal, store: store, state: state, ended: nil) }
                continue
            }

            record(store, .fail, fields)
            state.lastFailure = "attempt \(state.attempt) ended with \(outcome.termination)"
                + (outcome.stepReached.map { " (latest checkpoint: step \($0))" } ?? " (no checkpoint yet)")
            if case .exited(let code) = outcome.termination, let meaning = Self.permanentExitCodes[code] {
                return giveUp(
                    "permanent-exit",
                    "attempt \(state.attempt) exited with code \(code) (\(meaning)); restarting would not help, so the job is not restarted. Fix the error in the job's output above, then run again.",
                    store: store, state: state, exitCode: code)
            }
            let quick = outcome.duration < config.crashLoopWindow && outcome.stepReached == resume?.step
            state.quickFailures = quick ? state.quickFailures + 1 : 0
            if config.crashLoopLimit > 0 && state.quickFailures >= config.crashLoopLimit {
                return giveUp(
                    "crash-loop",
                    "crash loop: the last \(state.quickFailures) attempts each failed within \(Self.seconds(config.crashLoopWindow)) of starting without writing a checkpoint; \(state.lastFailure ?? ""). Fix the error in the job's output above, then run again.",
                    store: store, state: state)
            }
            guard state.restarts < config.maxRestarts else {
                return giveUp(
                    "max-restarts",
                    "gave up after \(state.describeAttempts()); \(state.lastFailure ?? ""). The limit is --max-restarts \(config.maxRestarts).",
                    store: store, state: state)
            }
            state.restarts += 1
            let delay = config.backoff.delay(beforeRestart: state.restarts)
            logger.info(
                "Attempt \(state.attempt) failed with \(outcome.termination); restart \(state.restarts) of \(config.maxRestarts) in \(Self.seconds(delay)).")
            record(store, .restart, ["attempt": .int(Int64(state.attempt + 1)), "counted": .bool(true), "delay": .number(delay), "reason": .string("failure")])
            if let signal = wait(delay, state: &state) { return stop(after: signal, store: store, state: state, ended: nil) }
        }
    }

    /// Exit codes that restarting cannot fix, with what they mean: the job
    /// gives up at once (`give_up`, reason `permanent-exit`) and
    /// `resumable run` exits with the same code.
    static let permanentExitCodes: [Int32: String] = [
        64: "EX_USAGE: the command was used wrongly",
        78: "EX_CONFIG: a configuration error, such as a missing module",
        126: "the command cannot be executed",
        127: "command not found",
    ]

    /// Counters of one `run()`.
    struct LoopState {
        /// The run's attempt number (over the whole journal).
        var attempt: Int
        var startedHere = 0
        /// Counted restarts recorded in the journal before this supervisor started.
        var earlierRestarts = 0
        var restarts = 0
        var preemptions = 0
        var quickFailures = 0
        var delays: [Double] = []
        var lastFailure: String?

        init(firstAttempt: Int, earlierRestarts: Int = 0) {
            attempt = firstAttempt
            self.earlierRestarts = earlierRestarts
        }

        /// `3 attempts (2 restarts)`, counted over the run's whole journal, as
        /// the attempt numbers are; `, 1 under this supervisor` when earlier
        /// supervisors ran some.
        func describeAttempts() -> String {
            let total = earlierRestarts + restarts
            var text = "\(attempt) attempt\(attempt == 1 ? "" : "s") (\(total) restart\(total == 1 ? "" : "s")"
            if startedHere != attempt { text += ", \(startedHere) under this supervisor" }
            return text + ")"
        }

        func result(_ reason: SupervisorResult.Reason, exitCode: Int32, _ message: String) -> SupervisorResult {
            SupervisorResult(
                reason: reason, exitCode: exitCode, attempts: startedHere, restarts: restarts, preemptions: preemptions,
                delays: delays, message: message)
        }
    }

    /// Waits `seconds` in short slices; returns a stop signal that arrived meanwhile.
    func wait(_ seconds: Double, state: inout LoopState) -> Int32? {
        state.delays.append(seconds)
        var remaining = seconds
        while remaining > 0 {
            if let signal = inbox.next(timeout: 0) { return signal }
            let slice = min(remaining, 0.05)
            clock.pause(slice)
            remaining -= slice
        }
        return inbox.next(timeout: 0)
    }

    func giveUp(
        _ reason: String, _ message: String, store: CheckpointStore, state: LoopState, exitCode: Int32 = 1
    ) -> SupervisorResult {
        record(store, .giveUp, ["attempt": .int(Int64(state.attempt)), "reason": .string(reason), "message": .string(message)])
        logger.debug("\(message)")
        return state.result(.gaveUp(reason), exitCode: exitCode, message)
    }

    /// After a stop signal: requeue under Slurm when asked, and report exit 75.
    func stop(after signal: Int32, store: CheckpointStore, state: LoopState, ended: ChildTermination?) -> SupervisorResult {
        var requeued = false
        var message = "stopped by \(SignalName.name(of: signal))"
        if let ended { message += "; the job ended with \(ended)" }
        if configuration.requeue {
            if let job = configuration.environment["SLURM_JOB_ID"], !job.isEmpty {
                let rc = SlurmRequeue.requeue(job: job, environment: configuration.environment, logger: logger)
                record(store, .requeue, ["attempt": .int(Int64(state.attempt)), "job_id": .string(job), "exit_code": rc.map { .int(Int64($0)) } ?? .null])
                requeued = rc == 0
                message += requeued ? "; Slurm job \(job) requeued, it resumes when it runs again" : "; `scontrol requeue \(job)` failed, resubmit the job to resume"
            } else {
                message += "; --requeue was given but SLURM_JOB_ID is not set, so nothing was requeued"
            }
        }
        message += ". Run the same command again to resume from the latest checkpoint."
        logger.debug("\(message)")
        return state.result(.interrupted(signal: signal, requeued: requeued), exitCode: 75, message)
    }

    /// Appends to the journal; a journal that cannot be written is logged, never fatal.
    func record(_ store: CheckpointStore, _ event: SupervisorEvent, _ fields: [String: JSONValue]) {
        do {
            try store.events.append(event, fields)
        } catch {
            logger.warning("Could not record \(event.rawValue) in \(store.events.path): \(error)")
        }
    }

    static func seconds(_ s: Double) -> String {
        s == s.rounded() ? "\(Int(s)) s" : "\((s * 100).rounded() / 100) s"
    }
}
