import Glibc

/// What `resumable run` supervises and how.
public struct SupervisorConfiguration: Sendable {
    /// The run directory (created on the first attempt).
    public var runDirectory: String
    /// The command and its arguments; the first is searched in `PATH`.
    public var command: [String]
    /// Restarts after failures (non-zero exit, killed by a signal) before giving up. Default 3.
    public var maxRestarts: Int = 3
    /// Restarts after exit 75 (preempted, state saved), counted apart. Default 100.
    public var maxPreemptions: Int = 100
    /// The wait before each restart after a failure.
    public var backoff = Backoff()
    /// Seconds between forwarding a stop signal and killing the child's group. Default 30.
    public var grace: Double = 30
    /// Signals that stop the job: forwarded to the child's group, then the supervisor exits 75.
    /// SIGTERM and SIGINT always are; `preemptSignal` adds one (e.g. SIGUSR1).
    public var preemptSignal: Int32?
    /// Under Slurm (`SLURM_JOB_ID` set), run `scontrol requeue` after a stop signal.
    public var requeue = false
    /// Give up after this many failures in a row that each came within
    /// `crashLoopWindow` seconds of their start with no new checkpoint. Default 3,
    /// so that with the default `maxRestarts` (3, four attempts) a crash loop is
    /// recognised, and said so, before restarts run out; 0 disables.
    public var crashLoopLimit = 3
    /// See `crashLoopLimit`. Default 10 seconds.
    public var crashLoopWindow: Double = 10
    /// The environment the child starts from (by default the supervisor's own).
    public var environment: [String: String] = SupervisorConfiguration.processEnvironment()
    /// Install handlers for the stop signals in this process (the CLI does; an
    /// embedding program may prefer to call `Supervisor.interrupt(_:)`).
    public var handlesProcessSignals = false
    /// The job's working directory (`nil`: the supervisor's). A relative
    /// command path is taken from there.
    public var workingDirectory: String?
    /// A descriptor that becomes the job's standard output and error (`nil`:
    /// they are the supervisor's). The caller keeps it open while the
    /// supervisor runs and closes it afterwards. (`resumable pipeline run`
    /// uses it to keep each stage's log.)
    package var outputDescriptor: Int32?
    /// Make this process adopt the child's orphaned descendants (Linux child
    /// subreaper), so that a stopped job's grandchildren are reaped and waited for.
    /// Meant for a process whose only job is supervising (the CLI).
    public var adoptsOrphans = false

    /// A configuration with the defaults: 3 restarts, 1 s backoff doubling to 60 s, 30 s grace.
    public init(runDirectory: String, command: [String]) {
        self.runDirectory = runDirectory
        self.command = command
    }

    /// The signals that stop the job.
    public var stopSignals: [Int32] {
        var signals = [SIGTERM, SIGINT]
        if let preemptSignal, !signals.contains(preemptSignal) { signals.append(preemptSignal) }
        return signals
    }

    /// This process's environment as a dictionary.
    public static func processEnvironment() -> [String: String] {
        var result: [String: String] = [:]
        var pointer = environ
        while let entry = pointer.pointee {
            let text = String(cString: entry)
            if let eq = text.firstIndex(of: "=") {
                result[String(text[..<eq])] = String(text[text.index(after: eq)...])
            }
            pointer += 1
        }
        return result
    }
}
