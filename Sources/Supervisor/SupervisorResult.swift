/// How a supervised job ended, and the exit code `resumable run` returns.
public struct SupervisorResult: Sendable {
    /// Why supervision ended.
    public enum Reason: Sendable, Hashable {
        /// The child exited 0.
        case finished
        /// Restarts ran out (`max-restarts`, `max-preemptions`), a crash loop was recognised
        /// (`crash-loop`), or the job exited with a code restarting cannot fix (`permanent-exit`).
        case gaveUp(String)
        /// A stop signal arrived; the child was stopped (and, under Slurm, the job requeued).
        case interrupted(signal: Int32, requeued: Bool)
    }

    /// Why supervision ended.
    public var reason: Reason
    /// 0 finished, 1 gave up, 75 interrupted (safe to run again); after a
    /// permanent failure (`gaveUp("permanent-exit")`) the job's own exit code (64, 78, 126, 127).
    public var exitCode: Int32
    /// Attempts started by this supervisor.
    public var attempts: Int
    /// Restarts after failures (counted against the cap) by this supervisor.
    public var restarts: Int
    /// Restarts after exit 75 by this supervisor.
    public var preemptions: Int
    /// The waits chosen before each restart, in seconds.
    public var delays: [Double]
    /// A sentence for the user.
    public var message: String
}
