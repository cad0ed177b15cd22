import Foundation
import Logging
@testable import Pipelines
import Resumable
import Testing

/// `SupervisedJob`: one supervised job with its output teed to a log and an optional time limit.
@Suite("SupervisedJob")
struct SupervisedJobTests {
    func job(_ script: String, in directory: String, timeout: Double? = nil) -> SupervisedJob {
        var configuration = SupervisorConfiguration(runDirectory: directory + "/run", command: ["/bin/sh", "-c", script])
        configuration.maxRestarts = 0
        configuration.grace = 2
        return SupervisedJob(
            configuration: configuration, logPath: directory + "/job.log", header: "== header ==", echo: .none, timeout: timeout)
    }

    @Test("a job that outlives its time limit is stopped and reported timed out, its output kept")
    func timeout() throws {
        let directory = TestSupport.temporaryDirectory("supervised-timeout")
        let started = Date()
        let (end, tail) = job("echo before; sleep 30; echo after", in: directory, timeout: 1).run(logger: Logger(label: "test"))
        guard case .timedOut(let seconds) = end else {
            Issue.record("expected a time-out, got \(end)")
            return
        }
        #expect(seconds == 1)
        #expect(Date().timeIntervalSince(started) < 20)
        #expect(tail == ["before"])
        let log = try String(contentsOfFile: directory + "/job.log", encoding: .utf8)
        #expect(log == "== header ==\nbefore\n")
    }

    @Test("exit 0 is finished; a failure gives the supervisor's verdict and the output's last lines")
    func outcomes() throws {
        let directory = TestSupport.temporaryDirectory("supervised-outcomes")
        let (ok, _) = job("echo fine", in: directory, timeout: 30).run(logger: Logger(label: "test"))
        guard case .finished = ok else {
            Issue.record("expected finished, got \(ok)")
            return
        }
        let (bad, tail) = job("for i in $(seq 1 40); do echo line $i; done; exit 5", in: directory).run(logger: Logger(label: "test"))
        guard case .failed(let code, let message) = bad else {
            Issue.record("expected a failure, got \(bad)")
            return
        }
        #expect(code == 1)
        #expect(message.contains("exit code 5"), "\(message)")
        #expect(tail.count == StageRecord.maxErrorLines - 1)
        #expect(tail.last == "line 40")
    }
}
