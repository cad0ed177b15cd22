import ArgumentParser
import Resumable

/// `--keep-last`, `--keep-best`, `--keep-every`: the retention rules of
/// `prune` and `commit`. Pinned checkpoints, `latest` and `best` are always kept.
struct RetentionOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: ArgumentHelp("Keep the newest N checkpoints.", valueName: "n"))
    var keepLast: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp("Keep the best K checkpoints by --monitor (or the run's monitor).", valueName: "k"))
    var keepBest: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp("Keep every checkpoint whose step is a multiple of N.", valueName: "n"))
    var keepEvery: Int64?

    func validate() throws {
        for (name, value) in [("--keep-last", keepLast.map(Int64.init)), ("--keep-best", keepBest.map(Int64.init)), ("--keep-every", keepEvery)] {
            if let value, value < 1 { throw ValidationError("\(name) must be 1 or more, not \(value).") }
        }
    }

    /// Whether any rule was given.
    var isEmpty: Bool { keepLast == nil && keepBest == nil && keepEvery == nil }

    /// The policy, or `nil` when no rule was given.
    /// - Throws: `.usage` when `--keep-best` has no metric to rank by.
    func policy(monitor: Monitor?, run: RunInfo) throws -> RetentionPolicy? {
        guard !isEmpty else { return nil }
        if keepBest != nil && monitor == nil && run.monitor == nil {
            throw ResumableError(
                .usage, "--keep-best needs a metric: add --monitor METRIC --mode min|max (the run has no monitor of its own).")
        }
        return RetentionPolicy(keepLast: keepLast, keepBest: keepBest, monitor: monitor, keepEvery: keepEvery)
    }
}
