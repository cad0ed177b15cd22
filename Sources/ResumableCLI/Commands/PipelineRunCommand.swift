import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import Logging
import Resumable

/// `resumable pipeline run FILE`: runs the stages that must run, in dependency order.
struct PipelineRunCommand: ParsableCommand, LoggingConfigurable {
    /// Stages starting, completing and failing are progress the user wants to see.
    static let defaultLogLevel: Logger.Level? = .info

    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a pipeline's stages in dependency order, each resumable, skipping those that are up to date.",
        discussion: """
            Each stage runs under the supervisor of `resumable run` (restarts after crashes, exit 75 \
            as preemption, signals forwarded, grace period) in its own run directory RUN/stages/NAME, \
            passed as RESUMABLE_RUN_DIR, so a stage that commits checkpoints resumes inside itself. \
            A stage is skipped when the ledger RUN/stages.json says it completed, its fingerprint \
            (command, env, inputs' contents, upstream outputs) is unchanged and its outputs are there \
            with their recorded hashes; otherwise it runs, and the log says why in one line. \
            A stage's output goes to standard error and to RUN/logs/NAME.log.

            Preflight (`resumable preflight FILE`) runs first; --no-preflight skips it.

            Exit codes: 0 every selected stage completed or was up to date; 1 a stage failed, or \
            preflight failed; 64 usage error (the file, the selection); 65 invalid data (the file, \
            the ledger); 75 stopped by a signal, or another `pipeline run` holds the run (run the \
            same command again to resume).
            """)

    @Argument(help: ArgumentHelp("The pipeline file (YAML).", valueName: "file"))
    var file: String

    @Option(parsing: .upToNextOption, help: ArgumentHelp("Run only these stages (their upstream outputs must exist).", valueName: "stage"))
    var only: [String] = []

    @Option(help: ArgumentHelp("Run this stage and everything downstream of it, even when up to date, from scratch.", valueName: "stage"))
    var from: String?

    @Option(parsing: .upToNextOption, help: ArgumentHelp("Leave out these optional stages.", valueName: "stage"))
    var skip: [String] = []

    @Flag(help: "Print the plan (what runs and why) and run nothing.")
    var dryRun = false

    @Flag(help: "After a stage fails, go on with the stages that do not need it.")
    var keepGoing = false

    @Option(help: ArgumentHelp("Run up to N independent stages at the same time.", valueName: "n"))
    var jobs = 1

    @Flag(help: "Do not run the preflight checks first.")
    var noPreflight = false

    @Option(help: ArgumentHelp("Seconds each of the file's own preflight checks may take.", valueName: "seconds"))
    var checkTimeout: Double = 300

    @OptionGroup var supervision: SupervisionOptions
    @OptionGroup var output: OutputOptions
    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        if jobs < 1 || jobs > 256 { throw ValidationError("--jobs must be between 1 and 256, not \(jobs).") }
        if !(checkTimeout > 0 && checkTimeout <= 1_000_000) {
            throw ValidationError("--check-timeout must be more than 0 and at most 1000000 seconds, not \(checkTimeout).")
        }
    }

    func run() throws {
        let spec = try PipelineSpec.load(path: file)
        let planOptions = PlanOptions(only: only, from: from, skip: skip)
        if dryRun {
            let ledger = try StageLedger.read(runDirectory: spec.runDirectory) ?? StageLedger()
            let plan = try PipelinePlan.make(spec: spec, ledger: ledger, options: planOptions)
            if output.json { Terminal.writeJSON(Self.json(plan)) } else { Terminal.write(Self.text(plan)) }
            return
        }

        var options = PipelineRunOptions()
        options.plan = planOptions
        options.keepGoing = keepGoing
        options.jobs = jobs
        options.maxRestarts = supervision.maxRestarts
        options.backoff = supervision.backoffValue
        options.grace = supervision.grace
        options.preemptSignal = supervision.preemptSignalNumber
        options.handlesProcessSignals = true
        options.executable = PipelinePreflight.runningResumableBinary()
        let logger = Logger(label: "resumable.pipeline")
        let runner = try PipelineRunner(spec: spec, options: options, logger: logger)
        let result = try runner.run { plan in
            for step in plan.steps {
                logger.info("\(step.stage): \(step.action == .run ? "runs: " : "")\(step.reason)")
            }
            if noPreflight || plan.stagesToRun.isEmpty { return }
            let checks = try PipelinePreflight.run(spec: spec, options: Preflight.Options(), checkTimeout: checkTimeout)
            let failed = checks.filter { !$0.ok }
            if failed.isEmpty {
                logger.info("preflight: all \(checks.count) checks passed")
                return
            }
            Terminal.writeError(PreflightCommand.text(checks, symbols: Terminal.standardErrorIsTerminal))
            throw ResumableError(
                .conflict,
                "preflight failed (\(failed.map(\.name).joined(separator: ", "))); no stage was started. Fix what it names, or run with --no-preflight.")
        }
        Terminal.writeError("resumable: \(result.message)\n")
        if output.json { Terminal.writeJSON(Self.json(result)) }
        if result.exitCode != 0 { throw ExitCode(result.exitCode) }
    }

    /// The plan as a table: stage, action, reason.
    static func text(_ plan: PipelinePlan) -> String {
        var table = TextTable([("STAGE", .left), ("ACTION", .left), ("REASON", .left)])
        for step in plan.steps { table.append([step.stage, step.action.rawValue, step.reason]) }
        let count = plan.stagesToRun.count
        return table.rendered() + (count == 0 ? "nothing to run: every stage is up to date\n" : "\(count) stage\(count == 1 ? "" : "s") would run: \(plan.stagesToRun.joined(separator: ", "))\n")
    }

    static func json(_ plan: PipelinePlan) -> JSONValue {
        .object([
            "stages": .array(plan.steps.map { .object(["stage": .string($0.stage), "action": .string($0.action.rawValue), "reason": .string($0.reason)]) }),
            "to_run": .array(plan.stagesToRun.map { .string($0) }),
        ])
    }

    static func json(_ result: PipelineRunResult) -> JSONValue {
        .object([
            "exit_code": .int(Int64(result.exitCode)),
            "completed": .array(result.completed.map { .string($0) }),
            "failed": .array(result.failed.map { .object(["stage": .string($0.stage), "reason": .string($0.reason)]) }),
            "not_started": .array(result.notStarted.map { .string($0) }),
            "skipped": .array(result.skipped.map { .string($0) }),
            "message": .string(result.message),
        ])
    }
}
