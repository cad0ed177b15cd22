/// The journal events `resumable run` writes for each attempt of a job.
///
/// Every attempt starts with `start` and ends with exactly one of `finish`,
/// `fail` or `preempt`; `restart` comes before the next attempt, `give_up`
/// when the supervisor stops restarting, `requeue` when it asked Slurm to run
/// the job again. Fields: `attempt` (1-based) on all of them; `start` adds
/// `resume_from`, `resume_step`, `pid`, `command`; the ends add `exit_code`
/// or `signal` and `signal_name`, `duration` (seconds) and `step` (the latest
/// checkpoint when the attempt ended, or null).
public enum AttemptEvent: String, Sendable, CaseIterable {
    /// An attempt began.
    case start
    /// The child exited 0: the job is done.
    case finish
    /// The child exited non-zero or was killed by a signal it did not ask for.
    case fail
    /// The child exited 75, or was stopped because the supervisor received a stop signal.
    case preempt
    /// The supervisor is about to start another attempt (`counted`: whether it counts against the cap).
    case restart
    /// The supervisor stopped restarting (`reason`: max-restarts, crash-loop, max-preemptions).
    case giveUp = "give_up"
    /// The supervisor asked Slurm to requeue the job (`job_id`, `exit_code` of scontrol).
    case requeue
}
