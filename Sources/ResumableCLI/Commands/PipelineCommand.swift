import ArgumentParser

/// `resumable pipeline`: multi-stage pipelines declared in one YAML file.
struct PipelineCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pipeline",
        abstract: "Run multi-stage pipelines that resume where they stopped (docs/PIPELINES.md).",
        subcommands: [PipelineRunCommand.self, PipelineStatusCommand.self, PipelineResetCommand.self]
    )
}
