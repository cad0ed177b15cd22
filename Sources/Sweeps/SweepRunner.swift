import Glibc
import DurableFiles
import JSON
public import Logging
import Pipelines
public import Supervisor
import Synchronization

/// How `resumable sweep run` runs a sweep's units.
public struct SweepRunOptions: Sendable {
    /// Units at once; `nil`: the file's `workers` (`--workers`).
    public var workers: Int?
    /// Seconds a unit has to exit after a forwarded stop signal (or its time limit) before its process group is killed.
    public var grace: Double = 30
    /// The wait before a unit's supervisor restarts it within an attempt.
    public var backoff = Backoff()
    /// A further signal that stops the sweep like SIGTERM.
    public var preemptSignal: Int32?
    /// The supervisor's restarts within one attempt when the file has no `max_restarts`.
    public var maxRestarts = SweepSpec.defaultMaxRestarts
    /// Install handlers for the stop signals in this process (the CLI does).
    public var handlesProcessSignals = false
    /// Echo the units' output to standard error, each line prefixed with
    /// `[KEY] ` (it always goes to `logs/KEY.log`).
    public var echoOutput = false
    /// The `resumable` executable the units should use, passed as
    /// `RESUMABLE_BIN` unless the environment sets it.
    public var executable: String?
    /// The environment units start from (by default this process's).
    public var environment = SupervisorConfiguration.processEnvironment()
    /// Seconds between ``SweepEvent/progress(_:)`` events.
    public var progressInterval = 0.5

    public init() {}
}

/// How a `sweep run` ended.
public struct SweepRunResult: Sendable {
    /// 0: every unit of the sweep is done (or running in another process, none
    /// failed); 1: a unit failed (after its retries) or has a damaged record;
    /// 75: stopped by a signal.
    public var exitCode: Int32
    /// The signal that stopped the run, if one did.
    public var stopSignal: Int32?
    /// Every unit as the records stand at the end (read again, so units
    /// another process finished meanwhile count).
    public var final: SweepPlan
    /// How each unit this run started ended (its last attempt), in the order they ended.
    public var ran: [SweepUnitEnd]
    /// Seconds the run took.
    public var elapsed: Double
    /// A sentence for the user.
    public var message: String

    /// Units in the sweep.
    public var total: Int { final.steps.count }
    /// Units done.
    public var done: Int { final.finished }
    /// The units that are failed now (with or without retries left), in the sweep's order.
    public var failedUnits: [SweepPlan.Step] { final.steps.filter { $0.status == .failed } }
    /// Units running in another live process.
    public var runningElsewhere: Int { final.running }
    /// Units interrupted (they resume at the next run).
    public var interrupted: Int { final.interrupted }
    /// Units with a damaged record.
    public var damaged: Int { final.damaged }
    /// Units never started (no record, or pending).
    public var pending: Int { final.steps.count(where: { $0.status == .pending }) }

    /// "Progress: 17/18 done, 1 failed." — with running, interrupted, not
    /// started and damaged units when there are any.
    public var summary: String {
        var parts = ["Progress: \(done)/\(total) done"]
        if !failedUnits.isEmpty { parts.append("\(failedUnits.count) failed") }
        if runningElsewhere > 0 { parts.append("\(runningElsewhere) running in another process") }
        if interrupted > 0 { parts.append("\(interrupted) interrupted") }
        if pending > 0 { parts.append("\(pending) not started") }
        if damaged > 0 { parts.append("\(damaged) with a damaged record") }
        return parts.joined(separator: ", ") + "."
    }
}

/// Runs a sweep's units that are not done, `workers` at a time, each under
/// a `Supervisor` in its own run directory `RUN/sweeps/NAME/units/KEY`,
/// keeping each unit's record `units/KEY.json` (docs/SWEEPS.md, "sweep run").
///
/// A unit is run only by the process holding its claim (`claims/KEY`), so
/// two runners on one sweep share the work and never run a unit twice at
/// the same time; under the claim the record is read again and a unit done
/// meanwhile is skipped. A unit's record is saved before its claim is
/// released. A stop signal (SIGINT, SIGTERM, the preempt signal) is
/// forwarded to the running units' supervisors, no unit starts after it,
/// and the stopped units are recorded `interrupted`: they resume from their
/// own checkpoints at the next run.
public final class SweepRunner: Sendable {
    public let spec: SweepSpec
    public let store: SweepStore
    public let options: SweepRunOptions
    public let logger: Logger
    let inbox: SignalInbox
    /// The supervisors of the units running now, by key, to forward stop signals to.
    let active = Mutex<[String: Supervisor]>([:])
    /// Set once a stop signal arrived: no unit starts after it.
    let stopSignal = Atomic<Int32>(0)

    /// A runner for `spec`.
    /// - Throws: `.io` when the signal pipe cannot be created.
    public init(spec: SweepSpec, options: SweepRunOptions, logger: Logger = Logger(label: "resumable.sweep")) throws {
        self.spec = spec
        self.store = SweepStore(spec: spec)
        self.options = options
        self.logger = logger
        inbox = try SignalInbox()
    }

    /// Stops the sweep as if this process had received `signal`: running
    /// units get it (through their supervisors), no unit starts. Safe from any thread.
    public func interrupt(_ signal: Int32) { inbox.post(signal) }

    /// The signals that stop the sweep.
    var stopSignals: [Int32] {
        var signals = [SIGTERM, SIGINT]
        if let s = options.preemptSignal, !signals.contains(s) { signals.append(s) }
        return signals
    }

    /// The units at once: `--workers`, else the file's `workers`.
    public var workers: Int { max(1, options.workers ?? spec.workers) }

    /// Runs the units the plan runs.
    /// - Parameters:
    ///   - beforeUnits: called with the plan before any unit starts (the CLI
    ///     prints its summary there); throwing ends the run before anything ran.
    ///   - onEvent: called on this thread as units start and end, and with the progress now and then.
    /// - Throws: `.corrupt` when the sweep directory is damaged (a link or a
    ///   file in its place); errors creating it. A unit's own failures are
    ///   recorded in its record, not thrown.
    public func run(beforeUnits: (SweepPlan) throws -> Void = { _ in }, onEvent: (SweepEvent) -> Void = { _ in }) throws -> SweepRunResult {
        let started = Self.now()
        try store.createDirectories()
        let plan = try SweepPlan.make(spec: spec, store: store)
        try beforeUnits(plan)
        if options.handlesProcessSignals { inbox.receiveProcessSignals(stopSignals) }
        defer { if options.handlesProcessSignals { inbox.restoreHandlers() } }
        let ran = try schedule(plan, started: started, onEvent: onEvent)
        let final = try SweepPlan.make(spec: spec, store: store)
        return conclude(final: final, ran: ran, elapsed: Self.now() - started)
    }

    /// What a worker tells the scheduler.
    enum Message: Sendable {
        case started(key: String, label: String, attempt: Int)
        case ended(SweepUnitEnd)
        /// The worker is free for the next unit.
        case free(Int)
    }

    /// Starts the units in order, at most `workers` at once, and waits for them.
    /// - Returns: each started unit's last end, in the order they ended.
    private func schedule(_ plan: SweepPlan, started: Double, onEvent: (SweepEvent) -> Void) throws -> [SweepUnitEnd] {
        var queue = plan.unitsToRun[...]
        let limit = max(1, min(workers, queue.count))
        var threads: [WorkerThread] = []
        var idle: [Int] = []
        defer { threads.forEach { $0.finish() } }
        let messages = Mutex<[Message]>([])
        var last: [String: SweepUnitEnd] = [:]
        var endOrder: [String] = []

        var progress = SweepProgress(
            name: spec.name, total: plan.steps.count, done: plan.finished, failed: plan.failed, running: 0, elsewhere: plan.running,
            queued: queue.count, elapsed: 0, eta: nil)
        var runningKeys: Set<String> = []
        var doneDurations: (sum: Double, count: Int) = (0, 0)
        var busy = 0
        func snapshot() -> SweepProgress {
            var p = progress
            p.running = runningKeys.count
            p.queued = queue.count
            p.elapsed = Self.now() - started
            let mean = doneDurations.count > 0 ? doneDurations.sum / Double(doneDurations.count) : nil
            p.eta = SweepProgress.estimate(meanDuration: mean, left: queue.count + busy, workers: limit)
            return p
        }

        var lastTick = Self.now()
        onEvent(.progress(snapshot()))
        while true {
            // Start what can start.
            if stopSignal.load(ordering: .acquiring) == 0 {
                while busy < limit, let unit = queue.popFirst() {
                    let index: Int
                    if let free = idle.popLast() {
                        index = free
                    } else {
                        guard let thread = WorkerThread() else {
                            queue.insert(unit, at: queue.startIndex)
                            if busy == 0 { throw ResumableError(.io, "cannot start a thread to run unit \(unit.key).") }
                            logger.warning("Cannot start another thread; running \(busy) units at once instead of \(limit).")
                            break
                        }
                        threads.append(thread)
                        index = threads.count - 1
                    }
                    busy += 1
                    threads[index].async { [self] in
                        runUnit(unit) { message in
                            messages.withLock { $0.append(message) }
                            inbox.post(0)
                        }
                        messages.withLock { $0.append(.free(index)) }
                        inbox.post(0)
                    }
                }
            }
            if busy == 0 && (queue.isEmpty || stopSignal.load(ordering: .acquiring) != 0) { break }

            // Wait for a worker's message or a stop signal; the progress now and then.
            let now = Self.now()
            let wait = max(0, lastTick + options.progressInterval - now)
            var signals: [Int32] = []
            if let first = inbox.next(timeout: wait) {
                if first != 0 { signals.append(first) }
                while signals.count < 64, let more = inbox.next(timeout: 0) { if more != 0 { signals.append(more) } }
            }
            for signal in signals {
                let first = stopSignal.load(ordering: .acquiring) == 0
                stopSignal.store(signal, ordering: .releasing)
                if first {
                    logger.notice(
                        "Received \(SignalName.name(of: signal)); stopping the \(runningKeys.count) running unit\(runningKeys.count == 1 ? "" : "s"); no further unit starts.")
                    onEvent(.stopping(signal: signal, running: runningKeys.count))
                }
                for supervisor in active.withLock({ Array($0.values) }) { supervisor.interrupt(signal) }
            }
            for message in messages.withLock({ list -> [Message] in defer { list = [] }; return list }) {
                switch message {
                case .free(let index):
                    busy -= 1
                    idle.append(index)
                case .started(let key, let label, let attempt):
                    runningKeys.insert(key)
                    onEvent(.started(key: key, label: label, attempt: attempt, progress: snapshot()))
                case .ended(var end):
                    runningKeys.remove(end.key)
                    switch end.outcome {
                    case .done:
                        progress.done += 1
                        if let d = end.duration {
                            doneDurations.sum += d
                            doneDurations.count += 1
                        }
                    case .failed where !end.willRetry: progress.failed += 1
                    case .failed, .interrupted: break
                    case .skipped:
                        switch end.skipReason {
                        case .claimedElsewhere?: progress.elsewhere += 1
                        case .doneElsewhere?: progress.done += 1
                        case .failedElsewhere?: progress.failed += 1
                        case .damaged?, .stopped?, nil: break
                        }
                    }
                    end.progress = snapshot()
                    if end.outcome != .skipped {
                        if last[end.key] == nil { endOrder.append(end.key) } else { endOrder.removeAll { $0 == end.key }; endOrder.append(end.key) }
                        last[end.key] = end
                    }
                    onEvent(.ended(end))
                }
            }
            if Self.now() - lastTick >= options.progressInterval {
                lastTick = Self.now()
                onEvent(.progress(snapshot()))
            }
        }
        return endOrder.compactMap { last[$0] }
    }

    /// The exit code and the sentence for the user.
    private func conclude(final: SweepPlan, ran: [SweepUnitEnd], elapsed: Double) -> SweepRunResult {
        let signal = stopSignal.load(ordering: .acquiring)
        var result = SweepRunResult(exitCode: 0, stopSignal: signal == 0 ? nil : signal, final: final, ran: ran, elapsed: elapsed, message: "")
        let name = "sweep \(spec.name)"
        let ranCount = ran.count
        let ranText = ranCount == 0 ? "no unit ran here" : "\(ranCount) unit\(ranCount == 1 ? "" : "s") ran here in \(Self.duration(elapsed))"
        if signal != 0 {
            result.exitCode = 75
            let stopped = ran.filter { $0.outcome == .interrupted }.count
            result.message =
                "\(name) stopped by \(SignalName.name(of: signal))"
                + (stopped > 0 ? "; \(stopped) running unit\(stopped == 1 ? " was" : "s were") interrupted" : "")
                + ". Run the same command again to resume: finished units are not run again."
        } else if !result.failedUnits.isEmpty || final.damaged > 0 {
            result.exitCode = 1
            var problems: [String] = []
            if !result.failedUnits.isEmpty { problems.append("\(result.failedUnits.count) unit\(result.failedUnits.count == 1 ? "" : "s") failed") }
            if final.damaged > 0 { problems.append("\(final.damaged) unit record\(final.damaged == 1 ? " is" : "s are") damaged") }
            result.message =
                "\(name) did not complete: \(SweepPlan.list(problems)) (\(ranText)). Fix the cause, then `resumable sweep rerun \(spec.file) --failed` and run again: finished units are not run again."
        } else if result.done == result.total {
            result.message = "\(name) complete: all \(result.total) unit\(result.total == 1 ? "" : "s") done (\(ranText))."
        } else {
            result.message = "\(name): nothing failed here (\(ranText)); the units not done are running in another process."
        }
        return result
    }

    /// Seconds on the monotonic clock.
    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// `12.3 s` under a minute; `4m10s`, `1h02m` above.
    public static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite else { return "?" }
        let s = max(0, seconds)
        if s < 60 { return String(Double(Int(s * 10)) / 10) + " s" }
        let whole = Int(s.rounded())
        if whole < 3600 { return "\(whole / 60)m" + (whole % 60 < 10 ? "0" : "") + "\(whole % 60)s" }
        let minutes = (whole % 3600) / 60
        return "\(whole / 3600)h" + (minutes < 10 ? "0" : "") + "\(minutes)m"
    }
}
