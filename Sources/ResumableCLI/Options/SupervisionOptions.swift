import ArgumentParser
import Resumable

/// How `pipeline run` and `sweep run` supervise each stage or unit: the
/// options of `resumable run` that apply to every job they start.
struct SupervisionOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Restarts after failures within one attempt of a stage or unit, when the file does not set max_restarts.", valueName: "n"))
    var maxRestarts = 3

    @Option(help: ArgumentHelp("Seconds before a job's first restart, doubling up to MAX (default 60).", valueName: "INITIAL[,MAX]"))
    var backoff: String = "1,60"

    @Option(help: ArgumentHelp("Seconds a job has to exit after a forwarded signal (or its time limit) before its process group is killed.", valueName: "seconds"))
    var grace: Double = 30

    @Option(help: ArgumentHelp("A further signal that stops everything like SIGTERM (e.g. USR1, as sent by `sbatch --signal`).", valueName: "sig"))
    var preemptSignal: String?

    func validate() throws {
        if maxRestarts < 0 || maxRestarts > 1000 { throw ValidationError("--max-restarts must be between 0 and 1000, not \(maxRestarts).") }
        if Backoff(parsing: backoff) == nil {
            throw ValidationError("--backoff takes INITIAL[,MAX] in seconds with 0 ≤ INITIAL ≤ MAX (e.g. 1,60), not \"\(backoff)\".")
        }
        if !(grace >= 0 && grace.isFinite) { throw ValidationError("--grace must be a number of seconds, 0 or more, not \(grace).") }
        if let preemptSignal, SignalName.number(preemptSignal) == nil {
            throw ValidationError("--preempt-signal \"\(preemptSignal)\" is not a signal name or number (e.g. USR1, SIGUSR2, 10).")
        }
    }

    /// The parsed `--backoff`.
    var backoffValue: Backoff { Backoff(parsing: backoff) ?? Backoff() }

    /// The number of `--preempt-signal`, if given.
    var preemptSignalNumber: Int32? { preemptSignal.flatMap(SignalName.number) }
}
