import ArgumentParser

/// `resumable sweep status` (being built in this change).
struct SweepStatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "(being built)")

    @Argument var arguments: [String] = []

    func run() throws { throw ValidationError("resumable sweep status is being built.") }
}
