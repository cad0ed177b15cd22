import ArgumentParser
import Resumable

/// `min` or `max` on the command line.
enum ModeArgument: String, ExpressibleByArgument, CaseIterable {
    case min, max

    /// The library's mode.
    var mode: MetricMode { self == .min ? .min : .max }
}

/// `--monitor METRIC --mode min|max`: which metric makes a checkpoint best.
struct MonitorOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The metric that makes a checkpoint best (default: the run's monitor).", valueName: "metric"))
    var monitor: String?

    @Option(help: "Whether a smaller (min) or a larger (max) value of --monitor is better.")
    var mode: ModeArgument?

    func validate() throws {
        if monitor != nil && mode == nil { throw ValidationError("--monitor needs --mode min or --mode max.") }
        if monitor == nil && mode != nil { throw ValidationError("--mode needs --monitor METRIC.") }
        if let monitor, monitor.isEmpty { throw ValidationError("--monitor needs a metric name.") }
    }

    /// The monitor given on the command line, or `nil`.
    var value: Monitor? {
        guard let monitor, let mode else { return nil }
        return Monitor(metric: monitor, mode: mode.mode)
    }
}
