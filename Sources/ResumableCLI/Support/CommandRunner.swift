#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import Logging
import Resumable

/// Parses the command line, sets up logging, runs the command and turns
/// errors into the documented exit codes.
enum CommandRunner {
    /// Runs `root` with the process's arguments and exits.
    static func main(_ root: any ParsableCommand.Type) async -> Never {
        let command: any ParsableCommand
        do {
            command = try root.parseAsRoot(Array(CommandLine.arguments.dropFirst()))
        } catch {
            // Help, version and usage errors (exit 64) as ArgumentParser reports them.
            root.exit(withError: error)
        }
        let configurable = command as? any LoggingConfigurable
        LogSetup.bootstrap(
            requested: configurable?.logging.level, commandDefault: configurable.flatMap { type(of: $0).defaultLogLevel })
        do {
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                var syncCommand = command
                try syncCommand.run()
            }
        } catch let error as ResumableError {
            Diagnostics.report(error)
            Terminal.flushStandardOutput()
            exit(error.exitCode)
        } catch {
            Terminal.flushStandardOutput()
            root.exit(withError: error)
        }
        Terminal.flushStandardOutput()
        exit(0)
    }
}
