import ArgumentParser
import Resumable

/// `resumable diff REF REF`: tensor by tensor, then metadata.
struct DiffCommand: ParsableCommand, LoggingConfigurable {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "Compare two checkpoints tensor by tensor, then their files and metadata.",
        discussion: """
            Exits 0 when every tensor is identical (or within --tolerance), 1 when they differ,
            like cmp; 65 or 66 when a checkpoint is unreadable or missing. Metadata and other
            files are reported but do not change the exit code.
            """)

    @Argument(help: ArgumentHelp("The first checkpoint.", valueName: "ref-a"))
    var first: String

    @Argument(help: ArgumentHelp("The second checkpoint.", valueName: "ref-b"))
    var second: String

    @Option(help: ArgumentHelp("Tensors whose elements differ by at most X count as equal.", valueName: "x"))
    var tolerance: Double = 0

    @Flag(help: "Print metadata values whole (long arrays such as the training history are summarised otherwise; --json is always whole).")
    var full = false

    @OptionGroup var monitor: MonitorOptions
    @OptionGroup var output: OutputOptions
    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        guard tolerance >= 0, tolerance.isFinite else { throw ValidationError("--tolerance must be a finite number 0 or more.") }
    }

    func run() throws {
        let a = try References.resolve(first, monitor: monitor.value).checkpoint
        let b = try References.resolve(second, monitor: monitor.value).checkpoint
        let comparison = try CheckpointComparison.compare(a, b, tolerance: tolerance)
        if output.json {
            Terminal.writeJSON(DiffRenderer.json(comparison))
        } else {
            Terminal.write(DiffRenderer.text(comparison, full: full))
        }
        if !comparison.tensorsAreIdentical { throw ExitCode(1) }
    }
}
