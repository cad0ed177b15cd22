import ArgumentParser
import Resumable

/// The sweep file every `sweep` command reads, and how large it may be.
struct SweepFileOptions: ParsableArguments {
    @Argument(help: ArgumentHelp("The sweep file (YAML).", valueName: "file"))
    var file: String

    @Flag(help: "Allow more than 10,000 units (at most 1,000,000).")
    var allowLarge = false

    /// The file, read and checked (64/65 with FILE:LINE:COLUMN for a mistake).
    func load() throws -> SweepSpec { try SweepSpec.load(path: file, allowLarge: allowLarge) }
}
