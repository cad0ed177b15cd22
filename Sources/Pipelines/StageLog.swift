import Glibc
import CSystemShims
import DurableFiles
import Synchronization

/// A stage's output while it runs: the stage writes into a pipe (its
/// standard output and error both), and a thread of the runner appends
/// everything to `{run}/logs/NAME.log`, echoes it to the runner's standard
/// error (each line prefixed with `[NAME] ` when stages run side by side),
/// and keeps the last lines for the ledger's `error_tail`.
///
/// Nothing blocks forever: the reader polls, and `finish()` waits at most a
/// few seconds for processes that escaped the stage and still hold the pipe.
package final class StageLog: Sendable {
    /// The descriptor the stage writes to (its standard output and error).
    let writeDescriptor: Int32
    private let readDescriptor: Int32
    private let file: Int32
    private let echo: Echo
    private let state = Mutex<State>(State())
    private let stopping = Atomic<Bool>(false)
    private let ended = Atomic<Bool>(false)
    private let worker: WorkerThread

    private struct State {
        /// The newest output, at most `tailBytes`.
        var tail: [UInt8] = []
        /// The start of a line not yet ended, for prefixing.
        var pending: [UInt8] = []
    }

    /// Bytes of output kept for the error tail.
    static let tailBytes = 16 << 10

    /// Opens (appending) `path` and starts the reader.
    /// - Throws: `.corrupt` when a link or another kind of file stands at `path`; I/O errors.
    /// Where the output is echoed besides the log file.
    package enum Echo: Sendable {
        /// Nowhere.
        case none
        /// To standard error as it comes.
        case raw
        /// To standard error, each line starting with the prefix.
        case prefixed(String)
    }

    init(path: String, echo: Echo) throws {
        file = try FileSystem.openRegularFile(path, O_WRONLY | O_APPEND | O_CREAT)
        var ends: [Int32] = [-1, -1]
        guard resumable_pipe_cloexec(&ends) == 0 else {
            let code = errno
            close(file)
            throw ResumableError.system("create a pipe for the output of", path: path, errno: code)
        }
        // The reader must never block: it polls, then reads what is there.
        _ = fcntl(ends[0], F_SETFL, fcntl(ends[0], F_GETFL) | O_NONBLOCK)
        readDescriptor = ends[0]
        writeDescriptor = ends[1]
        self.echo = echo
        guard let worker = WorkerThread() else {
            close(ends[0])
            close(ends[1])
            close(file)
            throw ResumableError(.io, "cannot start a thread to read the output of \(path).", path: path)
        }
        self.worker = worker
        worker.async { [self] in readLoop() }
    }

    /// Appends a line of the runner's own to the log (not echoed).
    func note(_ line: String) {
        writeAll(file, Array((line + "\n").utf8))
    }

    /// Stops reading once every writer has closed the pipe, or after
    /// `patience` seconds (a process that escaped the stage may hold it), and
    /// closes everything.
    /// - Returns: the last `lines` lines of output, control characters escaped.
    func finish(patience: Double = 3, lines: Int) -> [String] {
        close(writeDescriptor)
        let deadline = StageLog.now() + patience
        // The reader ends at end of file; past the deadline it is told to stop.
        while !ended.load(ordering: .acquiring) && StageLog.now() < deadline { usleep(1_000) }
        stopping.store(true, ordering: .releasing)
        worker.finish()
        close(readDescriptor)
        let rest = state.withLock { s -> [UInt8] in
            defer { s.pending = [] }
            return s.pending
        }
        if !rest.isEmpty { emit(rest + [10]) }
        close(file)
        let tail = state.withLock { $0.tail }
        return Self.lastLines(tail, count: lines)
    }

    private func readLoop() {
        defer { ended.store(true, ordering: .releasing) }
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        while !stopping.load(ordering: .acquiring) {
            var fds = pollfd(fd: readDescriptor, events: Int16(POLLIN), revents: 0)
            let ready = poll(&fds, 1, 20)
            if ready < 0 && errno != EINTR { return }
            if ready <= 0 { continue }
            let n = buffer.withUnsafeMutableBytes { read(readDescriptor, $0.baseAddress, $0.count) }
            if n == 0 { return }  // every writer has closed the pipe
            if n < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                return
            }
            let chunk = Array(buffer[0..<n])
            writeAll(file, chunk)
            emit(chunk)
            state.withLock { s in
                s.tail.append(contentsOf: chunk)
                if s.tail.count > Self.tailBytes { s.tail.removeFirst(s.tail.count - Self.tailBytes) }
            }
        }
    }

    /// Echoes output to standard error, with the prefix at the start of every line.
    private func emit(_ chunk: [UInt8]) {
        let prefix: String
        switch echo {
        case .none: return
        case .raw:
            writeAll(STDERR_FILENO, chunk)
            return
        case .prefixed(let p): prefix = p
        }
        let out = state.withLock { s -> [UInt8] in
            var out: [UInt8] = []
            s.pending.append(contentsOf: chunk)
            while let newline = s.pending.firstIndex(of: 10) {
                out += Array(prefix.utf8) + s.pending[...newline]
                s.pending.removeSubrange(...newline)
            }
            // A line that never ends (progress bars) is not held back for ever.
            if s.pending.count > 4096 {
                out += Array(prefix.utf8) + s.pending + [10]
                s.pending = []
            }
            return out
        }
        if !out.isEmpty { writeAll(STDERR_FILENO, out) }
    }

    private func writeAll(_ fd: Int32, _ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            offset += n
        }
    }

    /// The last `count` non-empty lines of `bytes`, as printable text
    /// (invalid UTF-8 repaired, control characters escaped, `\r` progress
    /// updates reduced to their last state).
    static func lastLines(_ bytes: [UInt8], count: Int) -> [String] {
        let text = String(decoding: bytes, as: UTF8.self)
        var lines: [String] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            let parts = line.split(separator: "\r", omittingEmptySubsequences: true)
            guard let last = parts.last else { continue }
            let shown = FilePath.printable(String(last))
            if !shown.isEmpty { lines.append(shown) }
        }
        return Array(lines.suffix(count))
    }

    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}
