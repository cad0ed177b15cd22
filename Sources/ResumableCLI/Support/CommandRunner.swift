#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import Logging
import Resumable

/// Parses the command line, sets up logging, runs the command and turns
/// errors into the documented exit codes.
enum CommandRunner {
    /// The message for a first word that is no command of `root`, with the
    /// nearest command name when one is close (`stauts` → `status`); `nil`
    /// when `word` is an option or a command.
    static func unknownCommand(_ word: String, of root: any ParsableCommand.Type) -> String? {
        let names = root.configuration.subcommands.compactMap { $0.configuration.commandName }
        guard !word.hasPrefix("-"), !names.isEmpty, !names.contains(word), word != "help" else { return nil }
        let nearest = names.map { (name: $0, distance: editDistance($0, word)) }.min { $0.distance < $1.distance }
        var message = "\"\(word)\" is not a resumable command."
        if let nearest, nearest.distance <= max(1, nearest.name.count / 3) {
            message += " Did you mean `resumable \(nearest.name)`?"
        }
        return message + " `resumable --help` lists the commands: " + names.joined(separator: ", ") + "."
    }

    /// Levenshtein distance between two short words.
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        var previous = Array(0...b.count)
        for i in 1...max(1, a.count) where !a.isEmpty {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...max(1, b.count) where !b.isEmpty {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return a.isEmpty ? b.count : previous[b.count]
    }

    /// Runs `root` with the process's arguments and exits.
    static func main(_ root: any ParsableCommand.Type) async -> Never {
        let command: any ParsableCommand
        do {
            command = try root.parseAsRoot(Array(CommandLine.arguments.dropFirst()))
        } catch {
            if let word = CommandLine.arguments.dropFirst().first, let message = unknownCommand(word, of: root) {
                Terminal.writeError("resumable: error: \(message)\n")
                exit(64)
            }
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
