import ArgumentParser
import Logging
import Resumable

/// `resumable run`: supervises a job of any language.
struct RunCommand: ParsableCommand, LoggingConfigurable {
    /// Attempts, failures and restarts are progress the user wants to see.
    static let defaultLogLevel: Logger.Level? = .info

    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a job of any language under supervision: restart it when it fails, stop it cleanly on signals, resume it from its latest checkpoint.",
        discussion: """
            The job gets RESUMABLE_RUN_DIR, RESUMABLE_RUN_ID, RESUMABLE_ATTEMPT (1-based), \
            RESUMABLE_RESUME_FROM (the latest good checkpoint directory, empty on a fresh start), \
            RESUMABLE_RESUME_STEP, RESUMABLE_LOCK_TOKEN (lets its `resumable commit` write to the run), \
            and, unless already set, WANDB_RUN_ID (the run id), WANDB_RESUME=allow and MLFLOW_RUN_ID \
            (when run.json knows the MLflow run).

            A job that fails (non-zero exit, killed by a signal) is restarted after a backoff, up to \
            --max-restarts times; one that exits 75 (preempted, state saved) is restarted without counting. \
            SIGTERM, SIGINT and --preempt-signal are forwarded to the job's process group; after --grace \
            seconds the group is killed. Every attempt is recorded in RUN/events.jsonl.

            A job that exits 64 (EX_USAGE), 78 (EX_CONFIG, e.g. a missing module), 126 (not executable) \
            or 127 (command not found) is not restarted: restarting cannot fix it.

            Exit codes: 0 the job finished; 1 restarts ran out or a crash loop was recognised; \
            64, 78, 126, 127 the job's own exit code, which restarting cannot fix; \
            64 usage error; 66 the command cannot be started; 75 stopped by a signal (run the same \
            command again to resume; under Slurm with --requeue the job was requeued).
            """)

    @Option(name: .customLong("run-dir"), help: ArgumentHelp("The run directory (created on the first attempt).", valueName: "DIR"))
    var runDirectory: String

    @Option(help: "Restarts after failures before giving up.")
    var maxRestarts: Int = 3

    @Option(help: "Restarts after exit 75 (preempted) before giving up; they do not count against --max-restarts.")
    var maxPreemptions: Int = 100

    @Option(help: ArgumentHelp("Seconds before the first restart, doubling up to MAX (default 60).", valueName: "INITIAL[,MAX]"))
    var backoff: String = "1,60"

    @Option(help: ArgumentHelp("Seconds the job has to exit after a forwarded signal before its process group is killed.", valueName: "SECONDS"))
    var grace: Double = 30

    @Option(help: ArgumentHelp("A further signal that stops the job like SIGTERM (e.g. USR1, as sent by `sbatch --signal`).", valueName: "SIG"))
    var preemptSignal: String?

    @Flag(help: "Under Slurm (SLURM_JOB_ID set), run `scontrol requeue` for the job after a stop signal.")
    var requeue = false

    @Option(help: ArgumentHelp("Give up after this many failures in a row, each within 10 s of starting and without a new checkpoint (0: never).", valueName: "N"))
    var crashLoop: Int = 3

    @OptionGroup var logging: LoggingOptions

    @Argument(parsing: .postTerminator, help: ArgumentHelp("The command to run, after `--`.", valueName: "CMD ARGS"))
    var command: [String] = []

    func validate() throws {
        if command.isEmpty { throw ValidationError("Give the command to run after `--`, e.g. `resumable run --run-dir runs/a -- python train.py`.") }
        if maxRestarts < 0 { throw ValidationError("--max-restarts must be 0 or more, not \(maxRestarts).") }
        if maxPreemptions < 0 { throw ValidationError("--max-preemptions must be 0 or more, not \(maxPreemptions).") }
        if crashLoop < 0 { throw ValidationError("--crash-loop must be 0 or more, not \(crashLoop).") }
        if Backoff(parsing: backoff) == nil {
            throw ValidationError("--backoff takes INITIAL[,MAX] in seconds with 0 ≤ INITIAL ≤ MAX (e.g. 1,60), not \"\(backoff)\".")
        }
        if !(grace >= 0 && grace.isFinite) { throw ValidationError("--grace must be a number of seconds, 0 or more, not \(grace).") }
        if let preemptSignal, SignalName.number(preemptSignal) == nil {
            throw ValidationError("--preempt-signal \"\(preemptSignal)\" is not a signal name or number (e.g. USR1, SIGUSR2, 10).")
        }
        if let preemptSignal, let n = SignalName.number(preemptSignal), n == SignalName.number("KILL") || n == SignalName.number("STOP") {
            throw ValidationError("--preempt-signal cannot be \(preemptSignal): that signal cannot be caught.")
        }
    }

    func run() throws {
        var configuration = SupervisorConfiguration(runDirectory: runDirectory, command: command)
        configuration.maxRestarts = maxRestarts
        configuration.maxPreemptions = maxPreemptions
        configuration.backoff = Backoff(parsing: backoff) ?? Backoff()
        configuration.grace = grace
        configuration.preemptSignal = preemptSignal.flatMap(SignalName.number)
        configuration.requeue = requeue
        configuration.crashLoopLimit = crashLoop
        configuration.handlesProcessSignals = true
        configuration.adoptsOrphans = true
        let result = try Supervisor(configuration: configuration, logger: Logger(label: "resumable.run")).run()
        Terminal.writeError("resumable: \(result.message)\n")
        if result.exitCode != 0 { throw ExitCode(result.exitCode) }
    }
}
