import ArgumentParser
import Logging
import Resumable

/// `resumable status RUN`: one screen about a run.
struct StatusCommand: ParsableCommand, LoggingConfigurable {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show a run on one screen: identity, lock, checkpoints, latest and best, trackers, attempts, events.")

    @Argument(help: ArgumentHelp("The run directory.", valueName: "run"))
    var runDirectory: String

    @Option(help: ArgumentHelp("How many of the newest events to show.", valueName: "n"))
    var events = 10

    @OptionGroup var monitor: MonitorOptions
    @OptionGroup var output: OutputOptions
    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        if events < 0 { throw ValidationError("--events must be 0 or more.") }
    }

    func run() throws {
        if PipelineStatus.isPipelineRunDirectory(runDirectory) {
            // A pipeline run directory (stages.json, no run.json): its pipeline status.
            try PipelineStatusCommand.show(runDirectory, json: output.json)
            return
        }
        let store = try References.openRun(runDirectory)
        let status = try RunStatus.build(
            from: store, monitor: monitor.value, recentEvents: events,
            contributors: [ProgressStatusContributor(), SupervisorStatusContributor(), TrainingStatusContributor(), PipelineStatusContributor()])
        let damaged = status.checkpoints.damaged
        if !damaged.isEmpty {
            // One warning for the command, however many parts of the status passed them over.
            let list = damaged.map { "\(Checkpoint.directoryName(step: $0.step)) (\($0.reason))" }.joined(separator: "; ")
            References.logger.warning(
                "\(damaged.count) damaged checkpoint\(damaged.count == 1 ? "" : "s") left out: \(list). `resumable ls \(runDirectory)` lists them.")
        }
        if case .string(let reason)? = status.section("pipeline")?.json["damaged"] {
            References.logger.warning("the pipeline ledger beside the run cannot be read: \(reason)")
        }
        if case .string(let reason)? = status.section("progress")?.json["damaged"] {
            References.logger.warning("the run's progress report is damaged and not shown: \(reason)")
        }
        if output.json {
            Terminal.writeJSON(status.json)
        } else {
            Terminal.write(StatusRenderer.render(status))
        }
    }
}
