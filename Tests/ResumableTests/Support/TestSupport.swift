import Foundation
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
    typealias Outcome = TestProcess.Outcome

    /// Runs a program to completion, capturing its output (a `TestProcess`
    /// with a pipe for stdin that holds `stdin` and is then closed).
    /// - Parameter deadline: seconds after which the process is killed (SIGKILL)
    ///   and the outcome marked `timedOut`, for tests of what must never block.
    @discardableResult
    static func run(
        _ executable: String, _ arguments: [String], environment: [String: String] = [:], directory: String? = nil,
        stdin: String? = nil, deadline: Double? = nil
    ) throws -> Outcome {
        try TestProcess(executable, arguments, environment: environment, directory: directory, stdin: .text(stdin ?? ""))
            .wait(deadline: deadline)
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
