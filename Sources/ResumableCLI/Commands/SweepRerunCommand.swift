import ArgumentParser

/// `resumable sweep rerun` (being built in this change).
struct SweepRerunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rerun", abstract: "(being built)")

    @Argument var arguments: [String] = []

    func run() throws { throw ValidationError("resumable sweep rerun is being built.") }
}
