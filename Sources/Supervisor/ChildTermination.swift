import DurableFiles
public import JSON

/// How a child process ended: its exit code, or the signal that killed it.
public enum ChildTermination: Sendable, Hashable, CustomStringConvertible {
    /// The process called `exit` with this code.
    case exited(Int32)
    /// The process was killed by this signal.
    case signaled(Int32)

    /// Decodes a `waitpid` status.
    init(waitStatus status: Int32) {
        // WIFEXITED / WEXITSTATUS / WTERMSIG are macros Swift cannot import.
        let signal = status & 0x7F
        if signal == 0 {
            self = .exited((status >> 8) & 0xFF)
        } else {
            self = .signaled(signal)
        }
    }

    /// Whether the process exited with 0.
    public var isSuccess: Bool { self == .exited(0) }

    /// Whether the process exited with 75: interrupted, state saved, safe to run again.
    public var isPreempted: Bool { self == .exited(75) }

    /// "exit code 3" or "signal 9 (SIGKILL)".
    public var description: String {
        switch self {
        case .exited(let code): return "exit code \(code)"
        case .signaled(let signal): return "signal \(signal) (\(SignalName.name(of: signal)))"
        }
    }

    /// The journal fields: `exit_code` or `signal` (number) and `signal_name`.
    public var journalFields: [String: JSONValue] {
        switch self {
        case .exited(let code): return ["exit_code": .int(Int64(code))]
        case .signaled(let signal):
            return ["signal": .int(Int64(signal)), "signal_name": .string(SignalName.name(of: signal))]
        }
    }
}
