import ArgumentParser
import Logging

/// `--verbose` and `--quiet`, shared by every command.
struct LoggingOptions: ParsableArguments {
    @Flag(name: .shortAndLong, help: "Log debug messages on standard error.")
    var verbose = false

    @Flag(name: .shortAndLong, help: "Log errors only (RESUMABLE_LOG_LEVEL sets the level too).")
    var quiet = false

    func validate() throws {
        if verbose && quiet { throw ValidationError("--verbose and --quiet cannot be used together.") }
    }

    /// The level asked for on the command line, or `nil` to use RESUMABLE_LOG_LEVEL or the default.
    var level: Logger.Level? { verbose ? .debug : quiet ? .error : nil }
}

/// A command whose logging options decide the log level.
protocol LoggingConfigurable {
    var logging: LoggingOptions { get }
    /// The level when neither a flag nor RESUMABLE_LOG_LEVEL says otherwise (`nil`: `LogSetup.defaultLevel`).
    static var defaultLogLevel: Logger.Level? { get }
}

extension LoggingConfigurable {
    static var defaultLogLevel: Logger.Level? { nil }
}
