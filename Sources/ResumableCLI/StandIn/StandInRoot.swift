// TEMPORARY: a minimal root command so `resumable run` can be tested before the
// command line of issue 2 lands. Removed when branch `cli` is merged.
#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import Logging

struct StandInRoot: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resumable", abstract: "Crash-proof training jobs (stand-in root).",
        subcommands: [RunCommand.self, StandInCommitCommand.self])

    static func main() {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .info
            return handler
        }
        Self.main(nil)
    }
}

/// Writes a line to standard error.
func printError(_ text: String) {
    let line = Array((text + "\n").utf8)
    _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}
