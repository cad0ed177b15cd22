import ArgumentParser

/// `resumable sweep`: experiment grids whose finished units are never recomputed.
struct SweepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sweep",
        abstract: "Run experiment grids whose finished units are never recomputed (docs/SWEEPS.md).",
        subcommands: [SweepRunCommand.self, SweepStatusCommand.self, SweepRerunCommand.self, SweepMergeCommand.self]
    )
}
