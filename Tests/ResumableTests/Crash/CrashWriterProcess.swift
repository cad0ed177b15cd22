#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// A running `resumable-crash-writer`: its stdout lines as they arrive, and a
/// way to kill it at an instant of the test's choosing.
final class CrashWriterProcess: @unchecked Sendable {
    /// The built writer.
    static var executable: String { TestSupport.executable("resumable-crash-writer") }

    private let process = Process()
    private let lock = NSLock()
    private var buffer: [UInt8] = []
    private var finishedReading = false
    private let readerDone = DispatchSemaphore(value: 0)
    private let stderrPath: String

    /// Starts the writer on `run`; its stderr goes to `stderrPath`.
    init(run: String, arguments: [String] = [], environment: [String: String] = [:], stderrPath: String) throws {
        self.stderrPath = stderrPath
        process.executableURL = URL(fileURLWithPath: Self.executable)
        process.arguments = [run] + arguments
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "RESUMABLE_FAULT")
        for (k, v) in environment { env[k] = v }
        process.environment = env
        let out = Pipe()
        process.standardOutput = out
        _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
        process.standardError = FileHandle(forWritingAtPath: stderrPath)
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let handle = out.fileHandleForReading
        Thread.detachNewThread { [self] in
            let fd = handle.fileDescriptor
            var chunk = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                lock.withLock { buffer.append(contentsOf: chunk[0..<n]) }
            }
            lock.withLock { finishedReading = true }
            readerDone.signal()
        }
    }

    /// The process id.
    var pid: Int32 { process.processIdentifier }

    /// The complete lines printed so far.
    var lines: [String] {
        lock.withLock {
            String(decoding: buffer, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: true)
                .map(String.init)
        }
    }

    /// Waits until a line starting with `prefix` was printed or the process ended.
    /// - Returns: whether the line came.
    func waitForLine(startingWith prefix: String, timeout: Double = 60) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if lines.contains(where: { $0.hasPrefix(prefix) }) { return true }
            if lock.withLock({ finishedReading }) { return lines.contains(where: { $0.hasPrefix(prefix) }) }
            usleep(500)
        }
        return false
    }

    /// Sends SIGKILL.
    func kill() { _ = Glibc.kill(process.processIdentifier, SIGKILL) }

    /// Waits for the process to end and its output to be read.
    /// - Returns: the exit status, and whether it died of a signal.
    func wait() -> (status: Int32, signaled: Bool) {
        process.waitUntilExit()
        readerDone.wait()
        return (process.terminationStatus, process.terminationReason == .uncaughtSignal)
    }

    /// Waits at most `timeout` seconds for the process to end; kills it
    /// (SIGKILL) when it has not by then.
    /// - Returns: the exit status, whether it died of a signal, and whether
    ///   it had to be killed (it hung).
    func wait(timeout: Double) -> (status: Int32, signaled: Bool, hung: Bool) {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        let hung = process.isRunning
        if hung { kill() }
        let (status, signaled) = wait()
        return (status, signaled, hung)
    }

    /// What the writer wrote to stderr.
    var stderr: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

    /// The steps it reported committed.
    var committedSteps: [Int64] {
        lines.compactMap { $0.hasPrefix("committed ") ? Int64($0.dropFirst(10)) : nil }
    }
}
