import Foundation
import Logging
import Resumable
import Testing

/// A clock whose pauses return at once and are recorded.
final class InstantClock: SupervisorClock, @unchecked Sendable {
    private let lock = NSLock()
    private var paused = 0.0
    var totalPaused: Double { lock.withLock { paused } }
    func now() -> Double { SystemSupervisorClock().now() }
    func pause(_ seconds: Double) { lock.withLock { paused += seconds } }
}

/// The `Supervisor` library in-process, with an injected clock.
@Suite("Supervisor library")
struct SupervisorLibraryTests {
    /// Warnings only: progress lines would clutter the test output.
    static var logger: Logger {
        var logger = Logger(label: "test.supervisor")
        logger.logLevel = .warning
        return logger
    }

    @Test("backoff doubles up to its maximum; the clock is asked to wait, not the test")
    func backoffDelays() throws {
        let dir = TestSupport.temporaryDirectory("sup-lib-backoff")
        var config = SupervisorConfiguration(runDirectory: dir + "/run", command: ["/bin/sh", "-c", "exit 7"])
        config.maxRestarts = 5
        config.backoff = Backoff(initial: 10, maximum: 35)
        config.crashLoopLimit = 0
        let clock = InstantClock()
        let result = try Supervisor(configuration: config, clock: clock, logger: Self.logger).run()
        #expect(result.exitCode == 1)
        #expect(result.reason == .gaveUp("max-restarts"))
        #expect(result.delays == [10, 20, 35, 35, 35])
        #expect(abs(clock.totalPaused - 135) < 1e-6)
        #expect(result.attempts == 6 && result.restarts == 5)
        #expect(result.message.contains("attempt 6 ended with exit code 7"))
        let journal = try EventJournal(runDirectory: dir + "/run").read()
        #expect(journal.filter { $0["event"]?.stringValue == "restart" }.map { $0["delay"]?.doubleValue } == [10, 20, 35, 35, 35])
    }

    @Test("interrupt() stops a job that ignores SIGTERM: killed after the grace period, exit 75")
    func interruptWithGrace() throws {
        let dir = TestSupport.temporaryDirectory("sup-lib-interrupt")
        var config = SupervisorConfiguration(
            runDirectory: dir + "/run",
            command: ["/bin/sh", "-c", "trap '' TERM; touch \(dir)/ready; while :; do sleep 0.1; done"])
        config.grace = 0.5
        let supervisor = try Supervisor(configuration: config, logger: Self.logger)
        let thread = Thread {
            SupervisorTestSupport.waitForFile(dir + "/ready")
            supervisor.interrupt(SIGTERM)
        }
        thread.start()
        let result = try supervisor.run()
        #expect(result.exitCode == 75)
        #expect(result.reason == .interrupted(signal: SIGTERM, requeued: false))
        let preempt = try SupervisorTestSupport.events(dir + "/run", "preempt")
        #expect(preempt.first?["killed"]?.boolValue == true)
    }

    @Test("the lock is held while supervising and lent to the child")
    func lockIsLent() throws {
        let dir = TestSupport.temporaryDirectory("sup-lib-lock")
        let run = dir + "/run"
        let config = SupervisorConfiguration(
            runDirectory: run,
            command: ["/bin/sh", "-c", "echo \"$RESUMABLE_LOCK_TOKEN\" > \(dir)/token; echo x > \(dir)/f; \"$0\" commit \"$RESUMABLE_RUN_DIR\" --step 1 \(dir)/src", TestSupport.resumable])
        try FileManager.default.createDirectory(atPath: dir + "/src", withIntermediateDirectories: true)
        try "x".write(toFile: dir + "/src/data.bin", atomically: true, encoding: .utf8)
        let result = try Supervisor(configuration: config, logger: Self.logger).run()
        #expect(result.exitCode == 0)
        #expect(try CheckpointStore(directory: run).committedSteps() == [1])
        // Another writer is refused while a supervisor holds the run.
        let holder = try CheckpointStore(directory: run, access: .write)
        let second = try Supervisor(configuration: config, logger: Self.logger).run
        #expect(throws: ResumableError.self) { try second() }
        holder.close()
    }

    @Test("AttemptHistory reads the journal's attempts, restarts and last failure")
    func summary() throws {
        let events: [JSONValue] = [
            .object(["event": .string("start"), "attempt": .int(1)]),
            .object(["event": .string("fail"), "attempt": .int(1), "signal": .int(9), "signal_name": .string("SIGKILL"), "time": .string("t1"), "step": .int(40)]),
            .object(["event": .string("restart"), "counted": .bool(true)]),
            .object(["event": .string("start"), "attempt": .int(2)]),
            .object(["event": .string("preempt"), "attempt": .int(2), "exit_code": .int(75)]),
            .object(["event": .string("restart"), "counted": .bool(false)]),
            .object(["event": .string("start"), "attempt": .int(3)]),
            .object(["event": .string("save"), "step": .int(80)]),
        ]
        let s = AttemptHistory(events: events)
        #expect(s.attempts == 3 && s.restarts == 1 && s.preemptions == 1)
        #expect(s.lastFailure?.reason == "signal 9 (SIGKILL)" && s.lastFailure?.step == 40 && s.lastFailure?.attempt == 1)
        #expect(s.lastOutcome == nil, "the third attempt has not ended")
        #expect(s.json["last_failure"]?["reason"]?.stringValue == "signal 9 (SIGKILL)")
        #expect(AttemptHistory(events: []).json["last_failure"] == .null)
    }

    @Test("Backoff and signal names parse what the options accept, and refuse the rest")
    func parsing() {
        #expect(Backoff(parsing: "2") == Backoff(initial: 2, maximum: 60))
        #expect(Backoff(parsing: "0.5,30") == Backoff(initial: 0.5, maximum: 30))
        #expect(Backoff(parsing: "0") == Backoff(initial: 0, maximum: 60))
        for bad in ["", "x", "-1", "5,1", "1,2,3", "nan", "1,inf"] { #expect(Backoff(parsing: bad) == nil, "\(bad)") }
        #expect(Backoff(initial: 1, maximum: 8).delay(beforeRestart: 1) == 1)
        #expect(Backoff(initial: 1, maximum: 8).delay(beforeRestart: 4) == 8)
        #expect(Backoff(initial: 1, maximum: 8).delay(beforeRestart: 1000) == 8)
        #expect(SignalName.number("USR1") == SIGUSR1 && SignalName.number("sigusr2") == SIGUSR2)
        #expect(SignalName.number("15") == SIGTERM && SignalName.number("BOGUS") == nil && SignalName.number("0") == nil)
        #expect(SignalName.name(of: SIGKILL) == "SIGKILL")
    }
}
