import ArgumentParser

/// `resumable pipeline status` (being built in this change).
struct PipelineStatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "(being built)")

    @Argument var arguments: [String] = []

    func run() throws { throw ValidationError("resumable pipeline status is being built.") }
}
