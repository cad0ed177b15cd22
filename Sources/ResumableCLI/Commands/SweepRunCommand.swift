import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import Logging
import Resumable

/// `resumable sweep run FILE`: runs the units of a sweep that are not done.
struct SweepRunCommand: ParsableCommand, LoggingConfigurable {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a sweep's units that are not done, `workers` at a time, each resumable.",
        discussion: """
            Each unit runs under the supervisor of `resumable run` (restarts after crashes, exit 75 \
            as preemption, signals forwarded, grace period) in its own run directory \
            RUN/sweeps/NAME/units/KEY, passed as RESUMABLE_RUN_DIR, so a unit that commits \
            checkpoints resumes inside itself. A unit is done when it exits 0 and its result file \
            is there (a .json result is parsed and recorded, any other file by size and SHA-256); \
            finished units are never run again. A failed unit is started again up to `retries` \
            times, then stays failed without stopping the others. Two `sweep run`s on one sweep \
            share the units through per-unit claims. Output goes to RUN/sweeps/NAME/logs/KEY.log \
            (--echo: to standard error too).

            Exit codes: 0 every unit is done; 1 a unit failed (the others ran); 64 usage error \
            (the file); 65 invalid data (the file); 75 stopped by a signal (run the same command \
            again to resume).
            """)

    @OptionGroup var sweep: SweepFileOptions

    @Option(help: ArgumentHelp("Units to run at once (1…256), instead of the file's `workers`.", valueName: "n"))
    var workers: Int?

    @Flag(help: "Print the plan (each unit, whether it runs and why) and run nothing.")
    var dryRun = false

    @Flag(help: "Echo the units' output to standard error, each line prefixed with [KEY].")
    var echo = false

    @OptionGroup var supervision: SupervisionOptions
    @OptionGroup var output: OutputOptions
    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        if let workers, workers < 1 || workers > 256 { throw ValidationError("--workers must be between 1 and 256, not \(workers).") }
    }

    func run() throws {
        let spec = try sweep.load()
        if dryRun {
            let plan = try SweepPlan.make(spec: spec, store: SweepStore(spec: spec))
            if output.json { Terminal.writeJSON(Self.json(plan, spec: spec)) } else { Terminal.write(Self.text(plan)) }
            return
        }

        var options = SweepRunOptions()
        options.workers = workers
        options.maxRestarts = supervision.maxRestarts
        options.backoff = supervision.backoffValue
        options.grace = supervision.grace
        options.preemptSignal = supervision.preemptSignalNumber
        options.handlesProcessSignals = true
        options.echoOutput = echo
        options.executable = PipelinePreflight.runningResumableBinary()
        let runner = try SweepRunner(spec: spec, options: options, logger: Logger(label: "resumable.sweep"))
        var renderer = SweepProgressRenderer(live: Terminal.standardErrorIsTerminal && !echo)
        let result = try runner.run(
            beforeUnits: { plan in
                Terminal.writeError(plan.summary + "\n")
                for stored in plan.stale.prefix(Self.staleShown) { Terminal.writeError("  no longer in the sweep: \(Self.describe(stored))\n") }
                if plan.stale.count > Self.staleShown { Terminal.writeError("  … and \(plan.stale.count - Self.staleShown) more\n") }
                if plan.damaged > 0 {
                    for step in plan.steps where step.status == nil {
                        Terminal.writeError("  \(SweepProgressRenderer.oneLine(step.unit.label)) (\(step.unit.key)): \(step.reason)\n")
                    }
                }
            },
            onEvent: { renderer.handle($0) })
        renderer.finish()
        Terminal.writeError(result.summary + "\n")
        for step in result.failedUnits {
            let reason = step.record?.errorTail.last.map { ": " + SweepProgressRenderer.oneLine($0) } ?? ""
            Terminal.writeError("  failed: \(SweepProgressRenderer.oneLine(step.unit.label)) (\(step.unit.key))\(reason)\n")
            Terminal.writeError("          log: \(runner.store.logPath(step.unit.key))\n")
        }
        Terminal.writeError("resumable: \(result.message)\n")
        if output.json { Terminal.writeJSON(Self.json(result, spec: spec, store: runner.store)) }
        if result.exitCode != 0 { throw ExitCode(result.exitCode) }
    }

    /// Stale records listed at the start, at most.
    static let staleShown = 10

    /// `KEY p=v … (done)`, or `KEY (record damaged)`.
    static func describe(_ stored: StoredRecord) -> String {
        switch stored {
        case .valid(let record):
            let params = record.params.keys.sorted().map { "\($0)=\(record.params[$0]!.text)" }.joined(separator: " ")
            return "\(record.key) \(SweepProgressRenderer.oneLine(params)) (\(record.observedStatus.rawValue))"
        case .damaged(let key, _, _):
            return "\(key) (record damaged)"
        }
    }

    /// The plan as a table: key, unit, action, reason; then the summary.
    static func text(_ plan: SweepPlan) -> String {
        var table = TextTable([("KEY", .left), ("UNIT", .left), ("ACTION", .left), ("REASON", .left)])
        for step in plan.steps {
            table.append([step.unit.key, SweepProgressRenderer.oneLine(step.unit.label), step.action.rawValue, SweepProgressRenderer.oneLine(step.reason)])
        }
        var text = table.rendered() + plan.summary + "\n"
        for stored in plan.stale { text += "no longer in the sweep: \(describe(stored))\n" }
        return text
    }

    static func json(_ plan: SweepPlan, spec: SweepSpec) -> JSONValue {
        .object([
            "sweep": .string(spec.name),
            "units": .array(
                plan.steps.map { step in
                    .object([
                        "key": .string(step.unit.key), "params": step.unit.paramsJSON, "action": .string(step.action.rawValue),
                        "reason": .string(step.reason), "status": step.status.map { .string($0.rawValue) } ?? .string("damaged"),
                    ])
                }),
            "to_run": .int(Int64(plan.toRun)),
            "summary": .string(plan.summary),
            "stale": .array(plan.stale.map { .string($0.key) }),
        ])
    }

    static func json(_ result: SweepRunResult, spec: SweepSpec, store: SweepStore) -> JSONValue {
        .object([
            "sweep": .string(spec.name),
            "exit_code": .int(Int64(result.exitCode)),
            "stopped_by": result.stopSignal.map { .string(SignalName.name(of: $0)) } ?? .null,
            "total": .int(Int64(result.total)),
            "done": .int(Int64(result.done)),
            "failed": .int(Int64(result.failedUnits.count)),
            "running_elsewhere": .int(Int64(result.runningElsewhere)),
            "interrupted": .int(Int64(result.interrupted)),
            "not_started": .int(Int64(result.pending)),
            "damaged": .int(Int64(result.damaged)),
            "elapsed_seconds": .double(result.elapsed),
            "ran": .array(
                result.ran.map { end in
                    .object([
                        "key": .string(end.key), "status": .string(end.outcome.rawValue), "attempts": .int(Int64(end.attempt)),
                        "duration_seconds": end.duration.map { .double($0) } ?? .null,
                        "exit_code": end.exitCode.map { .int(Int64($0)) } ?? .null, "message": .string(end.message), "log": .string(end.logPath),
                    ])
                }),
            "failed_units": .array(
                result.failedUnits.map { step in
                    .object([
                        "key": .string(step.unit.key), "params": step.unit.paramsJSON, "attempts": .int(Int64(step.record?.attempts ?? 0)),
                        "exit_code": step.record?.exitCode.map { .int(Int64($0)) } ?? .null,
                        "error_tail": .array((step.record?.errorTail ?? []).map { .string($0) }), "log": .string(store.logPath(step.unit.key)),
                    ])
                }),
            "summary": .string(result.summary),
            "message": .string(result.message),
        ])
    }
}
