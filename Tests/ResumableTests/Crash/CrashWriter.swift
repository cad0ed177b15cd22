import Foundation

/// The `resumable-crash-writer` helper, started as a `TestProcess`: its stdout
/// lines as they arrive, and a kill at an instant of the test's choosing.
extension TestProcess {
    /// The built writer.
    static var crashWriterExecutable: String { TestSupport.executable("resumable-crash-writer") }

    /// Starts the writer on `run` (without this process's `RESUMABLE_FAULT`);
    /// its stdout is captured, its stderr goes to `stderrPath`.
    static func crashWriter(
        run: String, arguments: [String] = [], environment: [String: String] = [:], stderrPath: String
    ) throws -> TestProcess {
        try TestProcess(
            crashWriterExecutable, [run] + arguments, environment: environment, unsetting: ["RESUMABLE_FAULT"],
            stdout: .capture, stderr: .file(stderrPath))
    }

    /// The steps the writer reported committed.
    var committedSteps: [Int64] {
        lines.compactMap { $0.hasPrefix("committed ") ? Int64($0.dropFirst(10)) : nil }
    }
}
