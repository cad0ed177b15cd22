import ArgumentParser
import Logging
import Resumable

/// `resumable sweep status FILE`: how far a sweep is, from its unit records alone.
struct SweepStatusCommand: ParsableCommand, LoggingConfigurable {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show how far a sweep is: units done, failed, running, counts by parameter, failed units' last log lines.",
        discussion: """
            Reads the sweep file and the unit records in RUN/sweeps/NAME/units. Prints \
            "Progress: 3/18 done, 1 failed, 2 running" (running: in a live process, or on another \
            host; a unit left running by a process that is gone is counted interrupted, and resumes \
            at the next `sweep run`), then one table per parameter (value → done, failed, running, \
            pending), the failed units with their exit code, log path and last 5 log lines (only the \
            end of the log is read), the running units with their Slurm job ids (and states, from \
            `squeue` when it is installed, 5 seconds at most), interrupted units, damaged records \
            (named, left alone) and the number of stale records (units no longer in the file). \
            Reads only: nothing is written and no claim is taken. Exit 0; 64/65 for a bad sweep \
            file, 66 when it does not exist. The JSON schema is in docs/SWEEPS.md.
            """)

    @OptionGroup var sweep: SweepFileOptions

    @OptionGroup var output: OutputOptions
    @OptionGroup var logging: LoggingOptions

    func run() throws {
        let spec = try sweep.load()
        let status = try SweepStatus.make(spec: spec)
        if output.json {
            Terminal.writeJSON(status.json)
        } else {
            Terminal.writePreEscaped(SweepStatusRenderer.render(status, style: .standardOutput))
        }
    }
}
