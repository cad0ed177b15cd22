import Foundation
import Resumable

/// Helpers for the supervisor's tests: scripts, background `resumable run`, journals.
enum SupervisorTestSupport {
    /// Writes an executable `/bin/sh` script and returns its path.
    static func script(_ directory: String, _ name: String, _ body: String) throws -> String {
        let path = directory + "/" + name
        try ("#!/bin/sh\n" + body + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o755)
        return path
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

    /// `resumable run …` started in the background, output to files in `directory`.
    final class Background {
        let process = Process()
        let stdoutPath: String
        let stderrPath: String

        init(_ arguments: [String], directory: String, environment: [String: String] = [:]) throws {
            stdoutPath = directory + "/supervisor.out"
            stderrPath = directory + "/supervisor.err"
            _ = FileManager.default.createFile(atPath: stdoutPath, contents: nil)
            _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
            process.executableURL = URL(fileURLWithPath: TestSupport.resumable)
            process.arguments = arguments
            var env = ProcessInfo.processInfo.environment
            for (k, v) in environment { env[k] = v }
            process.environment = env
            process.currentDirectoryURL = URL(fileURLWithPath: directory)
            process.standardOutput = FileHandle(forWritingAtPath: stdoutPath)
            process.standardError = FileHandle(forWritingAtPath: stderrPath)
            process.standardInput = FileHandle.nullDevice
            try process.run()
        }

        var pid: Int32 { process.processIdentifier }

        func signal(_ signal: Int32) { kill(process.processIdentifier, signal) }

        /// Waits for the supervisor to exit (killing it after `limit` seconds) and returns its exit status.
        func wait(limit: Double = 120) -> Int32 {
            let deadline = Date().addingTimeInterval(limit)
            while process.isRunning && Date() < deadline { usleep(20_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
            return process.terminationStatus
        }

        var stderr: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }
    }
}
