import ArgumentParser
import Resumable

/// `resumable pipeline reset FILE [STAGE…]`: mark stages and everything downstream not_started.
struct PipelineResetCommand: ParsableCommand, LoggingConfigurable {
    static let configuration = CommandConfiguration(
        commandName: "reset",
        abstract: "Mark stages and everything downstream of them not_started, so the next `pipeline run` runs them again.",
        discussion: """
            With no STAGE, every stage is reset. Only the ledger ({run}/stages.json) changes: it is \
            rewritten atomically, with the pipeline's outline, while holding the pipeline run's \
            lock ({run}/.lock), so it never races a live `pipeline run` (exit 75 naming its pid and \
            host). It asks nothing and prints the stages it reset, or "nothing to reset".

            It deletes nothing: the next `pipeline run` starts a reset stage from scratch, moving its \
            run directory ({run}/stages/NAME, with its checkpoints) to {run}/previous/NAME first, \
            so it never resumes from a checkpoint of its earlier version.

            Exit 64 for an unknown stage (the stages are listed), 65 for an invalid pipeline file or \
            ledger (left as it is), 66 when the file does not exist.
            """)

    @Argument(help: ArgumentHelp("The pipeline file.", valueName: "file"))
    var file: String

    @Argument(help: ArgumentHelp("Stages to reset, with everything downstream of them (default: every stage).", valueName: "stage"))
    var stages: [String] = []

    @OptionGroup var output: OutputOptions
    @OptionGroup var logging: LoggingOptions

    func run() throws {
        try References.requireLocal(file)
        if FileSystem.isDirectory(file) {
            throw ResumableError(
                .usage,
                "\(file) is a directory; `pipeline reset` takes the pipeline file, which says what is downstream of each stage.",
                path: file)
        }
        let spec = try PipelineSpec.load(path: file)
        let outcome = try PipelineReset.run(spec: spec, stages: stages)
        if output.json {
            Terminal.writeJSON(["reset": .array(outcome.reset.map { .string($0) })])
        } else {
            Terminal.write(outcome.reset.isEmpty ? "nothing to reset\n" : "reset: \(outcome.reset.joined(separator: ", "))\n")
        }
    }
}
