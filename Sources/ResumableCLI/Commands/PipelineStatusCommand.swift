import ArgumentParser
import Logging
import Resumable

/// `resumable pipeline status FILE|RUN`: where every stage of a pipeline stands.
struct PipelineStatusCommand: ParsableCommand, LoggingConfigurable {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show where every stage of a pipeline stands, and what must run next.",
        discussion: """
            FILE is a pipeline file; RUN a pipeline run directory (the one holding stages.json), \
            shown from the outline the ledger keeps, or from the pipeline file it names when that \
            still loads. One row per stage: status (✓ completed, ▶ in_progress, ✗ failed, \
            ⏸ interrupted, · not_started, ⤼ skipped on a terminal; words when piped), progress \
            (the stage's live progress.json while it runs, else the ledger's, else its latest \
            checkpoint), attempts, outputs with sizes, completed time and duration. A stage left \
            in_progress by a process that is gone is shown interrupted. Then the verdict \
            ("pipeline complete", or the stages the next `pipeline run` runs and why: with a FILE, \
            fingerprints are compared as `pipeline run` does), the stages' latest checkpoints and \
            tracker ids, and the live `pipeline run` holding the run's lock. Reads only: nothing is \
            written and no lock is taken. Exit 64 for a path that is neither, 65 for an invalid \
            pipeline file or ledger (named), 66 when the path does not exist.
            """)

    @Argument(help: ArgumentHelp("A pipeline file, or a pipeline run directory.", valueName: "file|run"))
    var path: String

    @OptionGroup var output: OutputOptions
    @OptionGroup var logging: LoggingOptions

    func run() throws {
        try Self.show(path, json: output.json)
    }

    /// Prints the status of a pipeline file or run directory (also what `resumable status RUN` prints for a pipeline run).
    static func show(_ path: String, json: Bool) throws {
        try References.requireLocal(path)
        let status = try PipelineStatus.load(path: path)
        for stage in status.stages where !stage.problems.isEmpty {
            References.logger.warning("stage \(stage.name): \(stage.problems.joined(separator: "; "))")
        }
        if json {
            Terminal.writeJSON(status.json)
        } else {
            Terminal.writePreEscaped(PipelineStatusRenderer.render(status, style: .standardOutput))
        }
    }
}
