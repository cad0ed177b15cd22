import Glibc
import CheckpointStore
import DurableFiles
import JSON
public import Logging
public import Supervisor
import Synchronization

/// How `resumable pipeline run` runs the stages it selected.
public struct PipelineRunOptions: Sendable {
    /// Which stages (`--only`, `--from`, `--skip`).
    public var plan = PlanOptions()
    /// Independent branches go on after a stage failed (`--keep-going`).
    public var keepGoing = false
    /// Stages run side by side, at most this many (`--jobs`).
    public var jobs = 1
    /// Seconds a stage has to exit after a forwarded stop signal.
    public var grace: Double = 30
    /// The wait before a stage's supervisor restarts it.
    public var backoff = Backoff()
    /// A further signal that stops the pipeline like SIGTERM.
    public var preemptSignal: Int32?
    /// A stage's restarts within one attempt when the file does not say (`max_restarts`).
    public var maxRestarts = 3
    /// Install handlers for the stop signals in this process (the CLI does).
    public var handlesProcessSignals = false
    /// Echo the stages' output to standard error (it always goes to `{run}/logs/NAME.log`).
    public var echoOutput = true
    /// The `resumable` executable the stages' `resumable commit`/`progress`
    /// should use, passed as `RESUMABLE_BIN` unless the environment sets it.
    public var executable: String?
    /// The environment stages start from (by default this process's).
    public var environment = SupervisorConfiguration.processEnvironment()

    public init() {}
}

/// How a `pipeline run` ended.
public struct PipelineRunResult: Sendable {
    /// 0: every selected stage is completed; 1: a stage failed; 75: stopped by a signal.
    public var exitCode: Int32
    /// The stages that ran and completed, in the order they completed.
    public var completed: [String]
    /// The stages that failed, with why.
    public var failed: [(stage: String, reason: String)]
    /// The stages that were to run but did not start (a stage they need failed, or the run stopped).
    public var notStarted: [String]
    /// The stages that were up to date (or not selected) and were skipped.
    public var skipped: [String]
    /// A sentence for the user.
    public var message: String
}

/// Runs a pipeline's stages in dependency order, each under a `Supervisor`
/// in its own run directory `{run}/stages/NAME`, keeping the ledger
/// `{run}/stages.json` (docs/PIPELINES.md).
///
/// The runner holds the pipeline run's lock (`{run}/.lock`) for its whole
/// life, so a second `pipeline run` on the same run is refused (`.locked`,
/// exit 75, naming the holder). A stage whose last attempt was interrupted
/// or failed resumes from its own latest checkpoint; a stage that runs
/// because it is new, or changed, starts from scratch, its previous run
/// directory kept in `{run}/previous/NAME`.
public final class PipelineRunner: Sendable {
    public let spec: PipelineSpec
    public let options: PipelineRunOptions
    public let logger: Logger
    let inbox: SignalInbox
    /// The supervisors of the stages running now, to forward stop signals to.
    let active = Mutex<[String: Supervisor]>([:])
    /// Set once a stop signal arrived: no stage starts after it.
    let stopSignal = Atomic<Int32>(0)

    /// A runner for `spec`.
    /// - Throws: `.io` when the signal pipe cannot be created.
    public init(spec: PipelineSpec, options: PipelineRunOptions, logger: Logger = Logger(label: "resumable.pipeline")) throws {
        self.spec = spec
        self.options = options
        self.logger = logger
        inbox = try SignalInbox()
    }

    /// Stops the pipeline as if this process had received `signal`: running
    /// stages get it (forwarded to their process groups), no stage starts. Safe from any thread.
    public func interrupt(_ signal: Int32) { inbox.post(signal) }

    /// The signals that stop the pipeline.
    var stopSignals: [Int32] {
        var signals = [SIGTERM, SIGINT]
        if let s = options.preemptSignal, !signals.contains(s) { signals.append(s) }
        return signals
    }

    /// Runs the stages the plan selects.
    /// - Parameter beforeStages: called with the plan once the run's lock is
    ///   held, before any stage starts (the CLI prints the plan and runs
    ///   preflight there); throwing ends the run before anything ran.
    /// - Throws: `.locked` (exit 75) when another process holds the run's
    ///   lock; `.corrupt` (65) for an invalid ledger; `.usage` (64) for a
    ///   selection the plan refuses; I/O errors writing the ledger.
    public func run(beforeStages: (PipelinePlan) throws -> Void = { _ in }) throws -> PipelineRunResult {
        let runDirectory = FilePath.absolute(spec.runDirectory)
        // The run directory is the user's choice (it may be a link to a bigger disk); what is inside is ours.
        if !FileSystem.isDirectory(runDirectory) {
            try FileSystem.createDirectory(FilePath.parent(of: runDirectory))
            try FileSystem.createOwnedDirectory(runDirectory)
        }
        let lock = try RunLock.acquire(directory: runDirectory, logger: logger)
        defer { lock.release() }

        // Temporaries of ledger writes that were killed (every ledger writer holds this lock).
        StageLedger.removeStaleTemporaries(runDirectory: runDirectory)
        let keeper = try LedgerKeeper(runDirectory: runDirectory, outline: PipelineOutline(spec))
        let plan = try PipelinePlan.make(spec: spec, ledger: keeper.snapshot(), options: options.plan)
        try beforeStages(plan)
        for directory in ["stages", "logs"] { try FileSystem.createOwnedDirectory(FilePath.join(runDirectory, directory)) }
        try keeper.markSkipped(plan.steps.filter { $0.action == .skip && $0.reason.hasPrefix("skipped (--skip)") }.map(\.stage))

        if options.handlesProcessSignals { inbox.receiveProcessSignals(stopSignals) }
        defer { if options.handlesProcessSignals { inbox.restoreHandlers() } }
        return try schedule(plan, keeper: keeper, runDirectory: runDirectory)
    }

    /// Seconds between copies of the running stages' progress into the ledger.
    static let progressInterval = 5.0

    /// What became of a stage the plan ran.
    enum StageEnd: Sendable {
        case completed
        case failed(String)
        case interrupted
        /// Never started: a stage it needs did not complete.
        case blocked(String)
    }

    /// Starts stages as their needs complete, at most `jobs` at once, and waits for them.
    private func schedule(_ plan: PipelinePlan, keeper: LedgerKeeper, runDirectory: String) throws -> PipelineRunResult {
        let toRun = plan.stagesToRun
        let forced = Set(plan.steps.filter { $0.action == .run && $0.reason.contains("--from") }.map(\.stage))
        var waiting = toRun
        var running: Set<String> = []
        var ended: [String: StageEnd] = [:]
        var completedOrder: [String] = []
        var failed: [(stage: String, reason: String)] = []
        let finished = Mutex<[(String, StageEnd)]>([])
        var workers: [WorkerThread] = []
        defer { workers.forEach { $0.finish() } }

        func blocked(_ stage: StageSpec) -> String? {
            stage.needs.first { need in
                switch ended[need] {
                case nil, .completed?: return false
                default: return true
                }
            }
        }
        func ready(_ stage: StageSpec) -> Bool {
            stage.needs.allSatisfy { need in
                guard toRun.contains(need) else { return true }
                if case .completed? = ended[need] { return true }
                return false
            }
        }

        var progressCheck = StageLog.now()
        while true {
            // Start what can start.
            let stopping = stopSignal.load(ordering: .acquiring) != 0
            let halted = stopping || (!failed.isEmpty && !options.keepGoing)
            if !halted {
                for name in waiting where running.count < max(1, options.jobs) {
                    guard let stage = spec.stage(named: name) else { continue }
                    if let need = blocked(stage) {
                        waiting.removeAll { $0 == name }
                        ended[name] = .blocked(need)
                        logger.notice("Stage \(name) does not start: it needs \(need), which did not complete.")
                        continue
                    }
                    guard ready(stage) else { continue }
                    waiting.removeAll { $0 == name }
                    running.insert(name)
                    guard let worker = WorkerThread() else {
                        throw ResumableError(.io, "cannot start a thread to run stage \(name).")
                    }
                    workers.append(worker)
                    let fresh = forced.contains(name)
                    worker.async { [self] in
                        let end = runStage(stage, keeper: keeper, runDirectory: runDirectory, forceFresh: fresh)
                        finished.withLock { $0.append((name, end)) }
                    }
                }
            }
            if running.isEmpty { break }
            // The running stages' own progress reports reach the ledger every few seconds.
            if StageLog.now() - progressCheck >= Self.progressInterval {
                progressCheck = StageLog.now()
                for name in running { keeper.refreshProgress(name, stageDirectory: FilePath.join(FilePath.join(runDirectory, "stages"), name)) }
            }
            // Wait for a stage to end, or a stop signal.
            if let signal = inbox.next(timeout: 0.05) {
                let first = stopSignal.load(ordering: .acquiring) == 0
                stopSignal.store(signal, ordering: .releasing)
                if first {
                    logger.notice("Received \(SignalName.name(of: signal)); stopping the running stages (\(running.sorted().joined(separator: ", "))); no further stage starts.")
                }
                for supervisor in active.withLock({ Array($0.values) }) { supervisor.interrupt(signal) }
            }
            for (name, end) in finished.withLock({ list -> [(String, StageEnd)] in defer { list = [] }; return list }) {
                running.remove(name)
                ended[name] = end
                switch end {
                case .completed: completedOrder.append(name)
                case .failed(let reason): failed.append((name, reason))
                case .interrupted, .blocked: break
                }
            }
        }

        let signal = stopSignal.load(ordering: .acquiring)
        let notStarted = toRun.filter { name in
            switch ended[name] {
            case nil, .blocked?: return true
            default: return false
            }
        }
        let realFailures = failed
        let skipped = plan.steps.filter { $0.action == .skip }.map(\.stage)
        var message: String
        let exitCode: Int32
        if signal != 0 {
            exitCode = 75
            message = "pipeline \(spec.name) stopped by \(SignalName.name(of: signal))"
            let interrupted = toRun.filter { if case .interrupted? = ended[$0] { return true }; return false }
            if !interrupted.isEmpty { message += "; interrupted: \(interrupted.joined(separator: ", "))" }
            message += ". Run the same command again to resume."
        } else if !realFailures.isEmpty {
            exitCode = 1
            message = "pipeline \(spec.name) did not complete: "
                + realFailures.map { "stage \($0.stage) failed (\($0.reason.hasSuffix(".") ? String($0.reason.dropLast()) : $0.reason))" }.joined(separator: "; ")
            if !notStarted.isEmpty { message += "; not started: \(notStarted.joined(separator: ", "))" }
            message += ". Fix the stage and run the same command again: completed stages are not run again."
        } else {
            exitCode = 0
            let ran = completedOrder.isEmpty ? "no stage needed to run" : "ran \(completedOrder.joined(separator: ", "))"
            message = "pipeline \(spec.name) complete: \(ran)" + (skipped.isEmpty ? "" : "; skipped \(skipped.count) (up to date or not selected)") + "."
        }
        return PipelineRunResult(
            exitCode: exitCode, completed: completedOrder, failed: realFailures, notStarted: notStarted, skipped: skipped,
            message: message)
    }
}

/// The ledger of a running pipeline: one copy in memory, written through
/// (atomically) after every change, changes serialised.
final class LedgerKeeper: Sendable {
    let runDirectory: String
    private let ledger: Mutex<StageLedger>

    /// Reads the ledger (a new one when there is none) and records `outline` in it.
    init(runDirectory: String, outline: PipelineOutline) throws {
        self.runDirectory = runDirectory
        var ledger = try StageLedger.read(runDirectory: runDirectory) ?? StageLedger()
        ledger.pipeline = outline
        self.ledger = Mutex(ledger)
    }

    func snapshot() -> StageLedger { ledger.withLock { $0 } }

    /// Changes one stage's record and writes the ledger.
    func update(_ stage: String, _ change: (inout StageRecord) -> Void) throws {
        try ledger.withLock { (l: inout StageLedger) throws in
            var record = l.record(stage)
            change(&record)
            l.stages[stage] = record
            try l.write(runDirectory: runDirectory)
        }
    }

    /// Copies a running stage's `progress.json` into its record when it changed; a failure to write is left for the next change.
    func refreshProgress(_ stage: String, stageDirectory: String) {
        guard case .report(let report) = RunProgress.read(from: stageDirectory) else { return }
        guard case .object(let fields) = report.json else { return }
        try? ledger.withLock { (l: inout StageLedger) throws in
            guard var record = l.stages[stage], record.status == .inProgress, record.progress != fields else { return }
            record.progress = fields
            l.stages[stage] = record
            try l.write(runDirectory: runDirectory)
        }
    }

    /// Marks stages left out with `--skip` `skipped` (a completed one keeps its record).
    func markSkipped(_ stages: [String]) throws {
        try ledger.withLock { (l: inout StageLedger) throws in
            for stage in stages where l.record(stage).status != .completed {
                var record = l.record(stage)
                record.status = .skipped
                record.owner = nil
                l.stages[stage] = record
            }
            try l.write(runDirectory: runDirectory)
        }
    }
}
