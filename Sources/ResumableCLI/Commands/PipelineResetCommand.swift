import ArgumentParser

/// `resumable pipeline reset` (being built in this change).
struct PipelineResetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "reset", abstract: "(being built)")

    @Argument var arguments: [String] = []

    func run() throws { throw ValidationError("resumable pipeline reset is being built.") }
}
