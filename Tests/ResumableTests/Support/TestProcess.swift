#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization

/// The one way the tests start a child process: an executable with
/// arguments, additions to (and removals from) this process's environment, a
/// working directory, a text or no stdin, and stdout and stderr each captured
/// in memory (readable line by line as it arrives), sent to a file, or
/// discarded. It can be signalled and waited for with a deadline (SIGKILL
/// then), and a child still running when the value goes away (or at
/// `terminate()`) is killed, so a failing test leaves no process behind.
final class TestProcess: @unchecked Sendable {
    /// What the child reads on stdin.
    enum Input {
        /// `/dev/null`.
        case none
        /// A pipe that holds `text` and is then closed.
        case text(String)
    }

    /// Where one of the child's output streams goes.
    enum Output {
        /// A pipe read in the background into memory.
        case capture
        /// The file at the path, created (or truncated) first.
        case file(String)
        /// `/dev/null`.
        case discard
    }

    /// The outcome of a finished process.
    struct Outcome: CustomStringConvertible {
        var status: Int32
        /// Whether the process ended by a signal (`status` is then the signal number).
        var signaled: Bool
        /// The captured stdout (or the content of its file; empty when discarded).
        var stdout: String
        /// The captured stderr (or the content of its file; empty when discarded).
        var stderr: String
        /// Whether the process was still running at its deadline and was killed then.
        var timedOut = false
        var description: String {
            "exit \(status)\(signaled ? " (signal)" : "")\(timedOut ? " (killed at its deadline)" : "")\nstdout: \(stdout)\nstderr: \(stderr)"
        }
    }

    /// The bytes read from one captured pipe, and whether its end was reached.
    private final class Capture: @unchecked Sendable {
        let condition = NSCondition()
        var bytes: [UInt8] = []
        var finished = false

        /// Reads `fd` to its end on a thread of its own (holding only this object).
        func start(reading handle: FileHandle) {
            Thread.detachNewThread { [self] in
                let fd = handle.fileDescriptor
                var chunk = [UInt8](repeating: 0, count: 65536)
                while true {
                    let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                    if n < 0 && errno == EINTR { continue }
                    if n <= 0 { break }
                    condition.withLock {
                        bytes.append(contentsOf: chunk[0..<n])
                        condition.broadcast()
                    }
                }
                try? handle.close()
                condition.withLock {
                    finished = true
                    condition.broadcast()
                }
            }
        }

        func waitFinished() {
            condition.withLock { while !finished { condition.wait() } }
        }

        var text: String { condition.withLock { String(decoding: bytes, as: UTF8.self) } }
    }

    private let process = Process()
    private let exited = DispatchSemaphore(value: 0)
    private var launched = false
    private let stdoutCapture: Capture?
    private let stderrCapture: Capture?
    private let stdoutPath: String?
    private let stderrPath: String?
    /// The offset in the captured stdout of the next line `nextLine()` returns.
    private let lineCursor = Mutex(0)

    /// Starts `executable`.
    /// - Parameters:
    ///   - environment: added to (or replacing values of) this process's environment.
    ///   - unsetting: variables of this process's environment the child does not get.
    ///   - directory: the working directory (this process's when `nil`).
    init(
        _ executable: String, _ arguments: [String] = [], environment: [String: String] = [:],
        unsetting: [String] = [], directory: String? = nil, stdin: Input = .none,
        stdout: Output = .capture, stderr: Output = .capture
    ) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for key in unsetting { env.removeValue(forKey: key) }
        for (k, v) in environment { env[k] = v }
        process.environment = env
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }

        func attach(_ output: Output) throws -> (Any, Capture?, String?) {
            switch output {
            case .capture:
                return (Pipe(), Capture(), nil)
            case .file(let path):
                _ = FileManager.default.createFile(atPath: path, contents: nil)
                guard let handle = FileHandle(forWritingAtPath: path) else {
                    throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
                }
                return (handle, nil, path)
            case .discard:
                return (FileHandle.nullDevice, nil, nil)
            }
        }
        let (out, outCapture, outPath) = try attach(stdout)
        let (err, errCapture, errPath) = try attach(stderr)
        stdoutCapture = outCapture
        stdoutPath = outPath
        stderrCapture = errCapture
        stderrPath = errPath
        process.standardOutput = out
        process.standardError = err
        var input: Pipe?
        switch stdin {
        case .none: process.standardInput = FileHandle.nullDevice
        case .text:
            input = Pipe()
            process.standardInput = input
        }
        process.terminationHandler = { [exited] _ in exited.signal() }
        try process.run()
        launched = true
        if let pipe = out as? Pipe { stdoutCapture?.start(reading: pipe.fileHandleForReading) }
        if let pipe = err as? Pipe { stderrCapture?.start(reading: pipe.fileHandleForReading) }
        if let input, case .text(let text) = stdin {
            if !text.isEmpty { input.fileHandleForWriting.write(Data(text.utf8)) }
            try? input.fileHandleForWriting.close()
        }
    }

    deinit { terminate() }

    /// The process id.
    var pid: Int32 { process.processIdentifier }

    /// Whether it has not ended yet.
    var isRunning: Bool { launched && process.isRunning }

    /// Sends `signal` (if it is still running).
    func signal(_ signal: Int32) {
        if isRunning { _ = kill(process.processIdentifier, signal) }
    }

    /// Kills it (SIGKILL) if it is still running and waits for it to end.
    func terminate() {
        guard launched else { return }
        if isRunning { _ = kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    /// Its stdout so far: the captured text, or its file's content.
    var stdout: String { Self.text(stdoutCapture, stdoutPath) }

    /// Its stderr so far: the captured text, or its file's content.
    var stderr: String { Self.text(stderrCapture, stderrPath) }

    private static func text(_ capture: Capture?, _ path: String?) -> String {
        if let capture { return capture.text }
        if let path { return (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }
        return ""
    }

    /// The non-empty lines of the captured stdout so far: the complete ones,
    /// and once it has ended the last one without a newline.
    var lines: [String] {
        guard let capture = stdoutCapture else { return [] }
        return capture.condition.withLock {
            var lines = capture.bytes.split(separator: 0x0A, omittingEmptySubsequences: false).map {
                String(decoding: $0, as: UTF8.self)
            }
            // What follows the last newline is incomplete unless the end was reached.
            if let last = lines.popLast(), capture.finished { lines.append(last) }
            return lines.filter { !$0.isEmpty }
        }
    }

    /// The next line of the captured stdout, waiting for it to arrive;
    /// `nil` at the end of the output. Lines are returned once each, in order.
    func nextLine() -> String? {
        guard let capture = stdoutCapture else { return nil }
        return lineCursor.withLock { cursor in
            capture.condition.withLock {
                while true {
                    if let newline = capture.bytes[cursor...].firstIndex(of: 0x0A) {
                        let line = String(decoding: capture.bytes[cursor..<newline], as: UTF8.self)
                        cursor = newline + 1
                        return line
                    }
                    if capture.finished {
                        guard cursor < capture.bytes.count else { return nil }
                        let line = String(decoding: capture.bytes[cursor...], as: UTF8.self)
                        cursor = capture.bytes.count
                        return line
                    }
                    capture.condition.wait()
                }
            }
        }
    }

    /// Waits until a line of the captured stdout starting with `prefix` was
    /// printed (at most `timeout` seconds) or the output ended.
    /// - Returns: whether the line came.
    func waitForLine(startingWith prefix: String, timeout: Double = 60) -> Bool {
        guard let capture = stdoutCapture else { return false }
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if lines.contains(where: { $0.hasPrefix(prefix) }) { return true }
            let finished = capture.condition.withLock {
                if !capture.finished { _ = capture.condition.wait(until: min(deadline, Date().addingTimeInterval(0.05))) }
                return capture.finished
            }
            if finished { return lines.contains(where: { $0.hasPrefix(prefix) }) }
            if Date() >= deadline { return false }
        }
    }

    /// Waits for it to end and for its captured output to be read.
    /// - Parameter deadline: seconds from now after which it is killed
    ///   (SIGKILL) and the outcome marked `timedOut`; `nil` waits as long as it runs.
    @discardableResult
    func wait(deadline: Double? = nil) -> Outcome {
        var timedOut = false
        if let deadline, isRunning, exited.wait(timeout: .now() + deadline) == .timedOut {
            timedOut = isRunning
            if timedOut { _ = kill(process.processIdentifier, SIGKILL) }
        }
        process.waitUntilExit()
        stdoutCapture?.waitFinished()
        stderrCapture?.waitFinished()
        return Outcome(
            status: process.terminationStatus, signaled: process.terminationReason == .uncaughtSignal,
            stdout: stdout, stderr: stderr, timedOut: timedOut)
    }
}
