import ArgumentParser

/// `resumable pipeline run` (being built in this change).
struct PipelineRunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "run", abstract: "(being built)")

    @Argument var arguments: [String] = []

    func run() throws { throw ValidationError("resumable pipeline run is being built.") }
}
