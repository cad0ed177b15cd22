import ArgumentParser

/// `resumable sweep run` (being built in this change).
struct SweepRunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "run", abstract: "(being built)")

    @Argument var arguments: [String] = []

    func run() throws { throw ValidationError("resumable sweep run is being built.") }
}
