import Foundation
import Resumable

/// Helpers for the supervisor's tests: scripts, background `resumable run`, journals.
enum SupervisorTestSupport {
    /// Writes an executable `/bin/sh` script and returns its path.
    static func script(_ directory: String, _ name: String, _ body: String) throws -> String {
        let path = directory + "/" + name
        try writeExecutable(path, "#!/bin/sh\n" + body + "\n")
        return path
    }

    /// Writes an executable file through a close-on-exec descriptor: a
    /// writable descriptor that a process spawned meanwhile by a test running
    /// in parallel inherited would make starting the file fail with
    /// "Text file busy" (ETXTBSY).
    static func writeExecutable(_ path: String, _ text: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o755)
        guard fd >= 0 else { throw ResumableError(.cannotCreate, "cannot create \(path)", path: path) }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        guard bytes.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == bytes.count else {
            throw ResumableError(.io, "cannot write \(path)", path: path)
        }
        fchmod(fd, 0o755)
    }

    /// The run's journal events named `event`.
    static func events(_ runDirectory: String, _ event: String? = nil) throws -> [JSONValue] {
        try EventJournal(runDirectory: runDirectory).read().filter { event == nil || $0["event"]?.stringValue == event }
    }

    /// Waits until `path` exists (at most `limit` seconds); whether it appeared.
    @discardableResult
    static func waitForFile(_ path: String, limit: Double = 60) -> Bool {
        let deadline = Date().addingTimeInterval(limit)
        while Date() < deadline {
            if FileManager.default.fileExists(atPath: path) { return true }
            usleep(20_000)
        }
        return false
    }

    /// `resumable run …` started in the background in `directory`, its
    /// stdout and stderr to `supervisor.out` and `supervisor.err` there.
    static func background(_ arguments: [String], directory: String, environment: [String: String] = [:]) throws
        -> TestProcess
    {
        try TestProcess(
            TestSupport.resumable, arguments, environment: environment, directory: directory,
            stdout: .file(directory + "/supervisor.out"), stderr: .file(directory + "/supervisor.err"))
    }
}
