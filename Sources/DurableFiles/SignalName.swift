import Glibc

/// Signal names and numbers, for options such as `--preempt-signal USR1`.
package enum SignalName {
    private static let table: [(String, Int32)] = [
        ("HUP", SIGHUP), ("INT", SIGINT), ("QUIT", SIGQUIT), ("KILL", SIGKILL), ("USR1", SIGUSR1),
        ("USR2", SIGUSR2), ("ALRM", SIGALRM), ("TERM", SIGTERM), ("CONT", SIGCONT), ("STOP", SIGSTOP),
        ("XCPU", SIGXCPU), ("PIPE", SIGPIPE), ("ABRT", SIGABRT), ("SEGV", SIGSEGV), ("BUS", SIGBUS),
        ("FPE", SIGFPE), ("ILL", SIGILL), ("TRAP", SIGTRAP),
    ]

    /// The number of a signal given as `USR1`, `SIGUSR1`, `usr1` or `10`; `nil` when unknown.
    package static func number(_ text: String) -> Int32? {
        if let n = Int32(text), n > 0, n < 65 { return n }
        var name = text.uppercased()
        if name.hasPrefix("SIG") { name.removeFirst(3) }
        return table.first { $0.0 == name }?.1
    }

    /// `SIGTERM` for 15; `SIG<n>` for a number without a name here.
    package static func name(of signal: Int32) -> String {
        table.first { $0.1 == signal }.map { "SIG" + $0.0 } ?? "SIG\(signal)"
    }
}
