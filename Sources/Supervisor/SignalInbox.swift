import Glibc
import DurableFiles
import Synchronization

/// Where the process signal handler writes: the write end of the inbox
/// that currently listens. Set before handlers are installed.
nonisolated(unsafe) private var signalTargetDescriptor: Int32 = -1

/// The handler only writes the signal number to a pipe (async-signal-safe).
private let forwardingHandler: @convention(c) (Int32) -> Void = { signal in
    let saved = errno
    var byte = UInt8(truncatingIfNeeded: signal)
    _ = write(signalTargetDescriptor, &byte, 1)
    errno = saved
}

/// Signals and interrupt requests for a supervisor, delivered through a pipe
/// so that the supervising loop can wait for a signal or a timeout.
///
/// A signal handler only writes the signal number into the pipe; all work
/// happens in the loop. `post(_:)` lets code (and tests) request the same
/// handling as a real signal.
public final class SignalInbox: Sendable {
    private let readEnd: Int32
    private let writeEnd: Int32
    /// The handlers `receiveProcessSignals` replaced (`nil`: the default one).
    private let installed = Mutex<[(signal: Int32, previous: Handler?)]>([])

    /// A signal handler, kept to be put back (a C function pointer, which any thread may hold).
    private struct Handler: @unchecked Sendable {
        let function: sighandler_t
    }

    /// A new, empty inbox.
    /// - Throws: `.io` when no pipe can be created.
    public init() throws {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else {
            throw ResumableError(.io, "cannot create a pipe for signals: \(String(cString: strerror(errno))).")
        }
        readEnd = fds[0]
        writeEnd = fds[1]
        for fd in fds {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
    }

    deinit {
        restoreHandlers()
        close(readEnd)
        close(writeEnd)
    }

    /// Routes the process's `signals` into this inbox until `restoreHandlers()`.
    /// Only one inbox should receive process signals at a time.
    ///
    /// The signals are also unblocked in the calling thread: a parent may
    /// have started this process with them blocked (a blocked SIGTERM would
    /// never reach the handler).
    public func receiveProcessSignals(_ signals: [Int32]) {
        signalTargetDescriptor = writeEnd
        var unblock = sigset_t()
        sigemptyset(&unblock)
        installed.withLock { installed in
            for number in Set(signals) {
                installed.append((number, signal(number, forwardingHandler).map(Handler.init)))
                sigaddset(&unblock, number)
            }
        }
        pthread_sigmask(SIG_UNBLOCK, &unblock, nil)
    }

    /// Puts back the handlers that were there before `receiveProcessSignals`.
    public func restoreHandlers() {
        installed.withLock { installed in
            for (number, previous) in installed.reversed() {
                _ = signal(number, previous?.function)
            }
            installed.removeAll()
        }
    }

    /// Delivers `signal` as if the process had received it.
    public func post(_ signal: Int32) {
        var byte = UInt8(truncatingIfNeeded: signal)
        _ = write(writeEnd, &byte, 1)
    }

    /// The next signal, waiting at most `timeout` seconds; `nil` on timeout.
    public func next(timeout: Double) -> Int32? {
        if let s = take() { return s }
        var descriptor = pollfd(fd: readEnd, events: Int16(POLLIN), revents: 0)
        let milliseconds = Int32(max(0, min(timeout, 3600)) * 1000)
        _ = poll(&descriptor, 1, milliseconds)
        return take()
    }

    private func take() -> Int32? {
        var byte: UInt8 = 0
        return read(readEnd, &byte, 1) == 1 ? Int32(byte) : nil
    }
}
