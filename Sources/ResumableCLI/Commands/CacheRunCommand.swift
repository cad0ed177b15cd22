import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import Logging
import Resumable

/// `resumable cache run KEY --output FILE -- CMD ARGS…`: a computation done
/// once per key, for programs in any language.
struct CacheRunCommand: ParsableCommand, LoggingConfigurable {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run CMD once per KEY: when KEY is cached, copy its value to FILE and do not run CMD.",
        discussion: """
            Otherwise CMD runs under the key's lock (a second `cache run` of the same key, on this \
            machine or another sharing the directory, waits and then copies the value). CMD inherits \
            standard input, output and error and must write FILE (an existing FILE is removed before \
            it starts, so a stale one is never stored). When CMD exits 0 FILE is stored and the command \
            exits 0; otherwise nothing is stored and the command exits with CMD's code (128+N when a \
            signal N killed it). SIGINT, SIGTERM and SIGHUP are passed on to CMD's process group.

            Exit codes: 0 FILE holds the value; CMD's own code when it failed; 64 usage; 66 CMD cannot \
            be started, or exited 0 without writing FILE; 74 I/O error; 75 --timeout passed.
            """)

    @Argument(help: "The key.") var key: String

    @Option(help: ArgumentHelp("The file CMD writes, and where a cached value is copied.", valueName: "FILE"))
    var output: String

    @OptionGroup var options: CacheOptions
    @OptionGroup var logging: LoggingOptions

    @Argument(parsing: .postTerminator, help: ArgumentHelp("The command to run, after `--`.", valueName: "CMD ARGS"))
    var command: [String] = []

    func validate() throws {
        if command.isEmpty {
            throw ValidationError("Give the command after `--`, e.g. `resumable cache run KEY --output out.npy -- python features.py`.")
        }
        if output.isEmpty || output == "-" { throw ValidationError("--output needs a file path.") }
    }

    /// The command failed: exit with its code, store nothing.
    private struct CommandFailed: Error {
        var exitCode: Int32
    }

    func run() throws {
        let cache = try options.cache()
        let logger = Logger(label: "resumable.cache")
        var ran = false
        do {
            let path = try cache.file(for: key) { temporary in
                ran = true
                if FileSystem.entryType(output) == .regular { try FileSystem.removeTree(output) }
                let termination = try Self.runInheritingStandardStreams(command)
                switch termination {
                case .exited(0): break
                case .exited(let code):
                    logger.notice("\(command[0]) failed with exit code \(code); nothing was cached.")
                    throw CommandFailed(exitCode: code)
                case .signaled(let signal):
                    logger.notice("\(command[0]) was killed by \(termination); nothing was cached.")
                    throw CommandFailed(exitCode: 128 + signal)
                }
                guard FileSystem.entryType(output) == .regular else {
                    throw ResumableError(
                        .notFound,
                        "\(command[0]) exited 0 but did not write \(output) (it must write a regular file there); nothing was cached.",
                        path: output)
                }
                let input = try FileSystem.openRegularFile(output, O_RDONLY, followingSymlinks: true)
                defer { close(input) }
                _ = try ResultCache.copy(from: input, path: output, toNewFile: temporary)
            }
            if !ran {
                try CacheFiles.copyAtomically(path, to: output)
                logger.notice("cached: \(output) holds the value of the key; the command was not run.")
            }
        } catch let failure as CommandFailed {
            throw ExitCode(failure.exitCode)
        }
    }

    /// Runs `command` in a process group of its own with this process's
    /// environment and standard streams; SIGINT, SIGTERM and SIGHUP are
    /// passed on to the group while it runs.
    private static func runInheritingStandardStreams(_ command: [String]) throws -> ChildTermination {
        let inbox = try SignalInbox()
        inbox.receiveProcessSignals([SIGINT, SIGTERM, SIGHUP])
        defer { inbox.restoreHandlers() }
        let child = try ChildProcess.spawn(command, environment: SupervisorConfiguration.processEnvironment())
        while true {
            if let signal = inbox.next(timeout: 0.05) { child.signalGroup(signal) }
            if let termination = try child.poll() {
                child.reapGroupMembers()
                return termination
            }
        }
    }
}
