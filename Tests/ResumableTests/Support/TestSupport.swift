import Foundation
import Synchronization
import Resumable

/// Shared helpers for the test suite: temporary directories, the package's
/// paths, the built `resumable` binary and the Python with the peers.
enum TestSupport {
    /// The package root (three levels above this file).
    static let packageRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<4 { url.deleteLastPathComponent() }
        return url.path
    }()

    /// The one directory under which this test process makes its temporary
    /// directories (`RESUMABLE_TEST_TMP`, or the system's, then
    /// `resumable-tests-PID`). It is removed when the process exits, passed or
    /// failed, so no run of the suite leaves anything behind.
    static let temporaryRoot: String = {
        let base = ProcessInfo.processInfo.environment["RESUMABLE_TEST_TMP"] ?? NSTemporaryDirectory()
        let root = (base as NSString).appendingPathComponent("resumable-tests-\(getpid())")
        try? FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        atexit { try? FileManager.default.removeItem(atPath: TestSupport.temporaryRoot) }
        return root
    }()

    /// A fresh, empty temporary directory, unique per call, under `temporaryRoot`.
    static func temporaryDirectory(_ label: String = "test") -> String {
        let path = (temporaryRoot as NSString).appendingPathComponent("resumable-\(label)-\(UUID().uuidString.prefix(8))")
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// The directory of the built products (`RESUMABLE_BUILD_DIR`, or `.build/debug`).
    static var buildDirectory: String {
        ProcessInfo.processInfo.environment["RESUMABLE_BUILD_DIR"] ?? packageRoot + "/.build/debug"
    }

    /// The path of a built executable product.
    static func executable(_ name: String) -> String { buildDirectory + "/" + name }

    /// The built `resumable` binary.
    static var resumable: String { executable("resumable") }

    /// The Python interpreter with numpy and safetensors (`RESUMABLE_PYTHON`, or `.venv/bin/python`).
    static var python: String {
        ProcessInfo.processInfo.environment["RESUMABLE_PYTHON"] ?? packageRoot + "/.venv/bin/python"
    }

    /// The outcome of a finished process.
    struct Outcome: CustomStringConvertible {
        var status: Int32
        /// Whether the process ended by a signal (`status` is then the signal number).
        var signaled: Bool
        var stdout: String
        var stderr: String
        /// Whether the process was still running at its deadline and was killed then.
        var timedOut = false
        var description: String {
            "exit \(status)\(signaled ? " (signal)" : "")\(timedOut ? " (killed at its deadline)" : "")\nstdout: \(stdout)\nstderr: \(stderr)"
        }
    }

    /// Runs a program to completion, capturing its output.
    /// - Parameter deadline: seconds after which the process is killed (SIGKILL)
    ///   and the outcome marked `timedOut`, for tests of what must never block.
    @discardableResult
    static func run(
        _ executable: String, _ arguments: [String], environment: [String: String] = [:], directory: String? = nil,
        stdin: String? = nil, deadline: Double? = nil
    ) throws -> Outcome {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        process.environment = env
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        let input = Pipe()
        process.standardInput = input
        try process.run()
        let killedAtDeadline = Mutex(false)
        if let deadline {
            let pid = process.processIdentifier
            DispatchQueue.global().asyncAfter(deadline: .now() + deadline) {
                if process.isRunning {
                    killedAtDeadline.withLock { $0 = true }
                    kill(pid, SIGKILL)
                }
            }
        }
        if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
        try? input.fileHandleForWriting.close()
        // Read both pipes concurrently so a chatty child never blocks.
        nonisolated(unsafe) var errData = Data()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async {
            errData = err.fileHandleForReading.readDataToEndOfFile()
            group.leave()
        }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        return Outcome(
            status: process.terminationStatus, signaled: process.terminationReason == .uncaughtSignal,
            stdout: String(decoding: outData, as: UTF8.self), stderr: String(decoding: errData, as: UTF8.self),
            timedOut: killedAtDeadline.withLock { $0 })
    }

    /// Runs the built `resumable` binary.
    @discardableResult
    static func resumable(_ arguments: String..., environment: [String: String] = [:], deadline: Double? = nil) throws
        -> Outcome
    {
        try run(resumable, arguments, environment: environment, deadline: deadline)
    }

    /// Parses JSON printed by a command.
    static func json(_ text: String) throws -> JSONValue {
        try JSONParser(maxDepth: 64).parse(text)
    }
}
