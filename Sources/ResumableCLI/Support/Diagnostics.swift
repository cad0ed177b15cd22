import Resumable

/// How errors reach the user: `resumable: error: MESSAGE` on standard error,
/// then a `hint:` line where one helps.
enum Diagnostics {
    /// Prints a library error and its hint.
    static func report(_ error: ResumableError) {
        Terminal.writeError("resumable: error: \(error.message)\n")
        if let hint = hint(for: error) { Terminal.writeError("hint: \(hint)\n") }
    }

    /// A next step for the kind of failure, or `nil`.
    static func hint(for error: ResumableError) -> String? {
        switch error.code {
        case .locked:
            return "`resumable status RUN` shows who holds the lock; a lock of a dead process is taken over automatically."
        case .corrupt:
            return "`resumable verify --all RUN` checks every checkpoint; resuming falls back to the newest intact one."
        case .usage:
            return "`resumable help <command>` describes the options."
        case .unsupportedVersion:
            return "a newer resumable wrote this; upgrade to read it."
        default:
            return nil
        }
    }
}
