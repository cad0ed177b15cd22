import ArgumentParser

/// `--json`, shared by every command that prints data.
struct OutputOptions: ParsableArguments {
    @Flag(help: "Print JSON (sorted keys) on standard output instead of text.")
    var json = false
}
