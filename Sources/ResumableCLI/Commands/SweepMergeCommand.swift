import ArgumentParser

/// `resumable sweep merge` (being built in this change).
struct SweepMergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "merge", abstract: "(being built)")

    @Argument var arguments: [String] = []

    func run() throws { throw ValidationError("resumable sweep merge is being built.") }
}
