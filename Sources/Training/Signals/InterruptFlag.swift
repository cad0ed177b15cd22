import Glibc
import Synchronization

/// The signal number that asked the process to stop, 0 while none has.
private let pendingSignal = Atomic<Int32>(0)

/// The handler: the first signal only records itself; a second one restores
/// the default action and re-raises, ending the process at once (committed
/// checkpoints are intact; a save in flight is left in `.staging/` and cleaned
/// at the next start).
private func handleStopSignal(_ number: Int32) {
    let (exchanged, _) = pendingSignal.compareExchange(expected: 0, desired: number, ordering: .sequentiallyConsistent)
    if !exchanged {
        signal(number, SIG_DFL)
        raise(number)
    }
}

/// Turns stop signals (SIGINT, SIGTERM, SIGUSR1 by default) into a flag the
/// training loop reads at each step boundary. The handler is async-signal-safe:
/// it only stores into an atomic (and, on a second signal, re-raises).
public enum InterruptFlag {
    /// The signals a training loop treats as "save and stop" by default.
    public static let defaultSignals: [Int32] = [SIGINT, SIGTERM, SIGUSR1]

    /// Installs the handler for `signals` and unblocks them on the calling
    /// thread (a parent may have left them blocked, which would hold them
    /// pending forever). A request already recorded is kept: a program that
    /// installs the handler first thing, before loading its data, stops at the
    /// training loop's first step boundary (exit 75) when interrupted early,
    /// instead of dying by the signal. `reset()` forgets a request.
    public static func install(for signals: [Int32] = defaultSignals) {
        var unblock = sigset_t()
        sigemptyset(&unblock)
        for sig in signals { sigaddset(&unblock, sig) }
        pthread_sigmask(SIG_UNBLOCK, &unblock, nil)
        for sig in signals {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = handleStopSignal
            sigemptyset(&action.sa_mask)
            action.sa_flags = SA_RESTART
            sigaction(sig, &action, nil)
        }
    }

    /// Restores the default action for `signals`.
    public static func uninstall(for signals: [Int32] = defaultSignals) {
        for sig in signals { signal(sig, SIG_DFL) }
    }

    /// The signal received, or `nil`.
    public static var received: Int32? {
        let value = pendingSignal.load(ordering: .sequentiallyConsistent)
        return value == 0 ? nil : value
    }

    /// Records a stop request as if `signal` had arrived (for tests and for
    /// programs with their own reasons to stop).
    public static func request(_ signal: Int32 = 15) {
        _ = pendingSignal.compareExchange(expected: 0, desired: signal, ordering: .sequentiallyConsistent)
    }

    /// Forgets a recorded request (the handlers stay installed).
    public static func reset() {
        pendingSignal.store(0, ordering: .sequentiallyConsistent)
    }
}
