import Foundation
import Resumable
import Testing

/// `resumable run` restarts failed jobs, counts restarts, and gives up — end to end, real children.
@Suite("resumable run: restart policy")
struct SupervisorRestartTests {
    @Test("a child that crashes twice then succeeds: two restarts, exit 0")
    func crashesTwiceThenSucceeds() throws {
        let dir = TestSupport.temporaryDirectory("sup-crash2")
        let child = try SupervisorTestSupport.script(dir, "child.sh", #"[ "$RESUMABLE_ATTEMPT" -ge 3 ] && exit 0; exit 3"#)
        let run = dir + "/run"
        let outcome = try TestSupport.resumable("run", "--run-dir", run, "--backoff", "0", "--", child)
        #expect(outcome.status == 0, "\(outcome)")
        #expect(try SupervisorTestSupport.events(run, "start").count == 3)
        #expect(try SupervisorTestSupport.events(run, "fail").map { $0["exit_code"]?.intValue } == [3, 3])
        let restarts = try SupervisorTestSupport.events(run, "restart")
        #expect(restarts.count == 2 && restarts.allSatisfy { $0["counted"]?.boolValue == true })
        #expect(try SupervisorTestSupport.events(run, "finish").count == 1)
        let summary = try AttemptHistory(journal: EventJournal(runDirectory: run))
        #expect(summary.attempts == 3 && summary.restarts == 2 && summary.lastOutcome == "finish")
        #expect(summary.lastFailure?.attempt == 2 && summary.lastFailure?.reason == "exit code 3")
        #expect(outcome.stderr.contains("finished after 3 attempts (2 restarts)"))
        let status = try TestSupport.resumable("status", run, "--json")
        #expect(status.status == 0, "\(status)")
        let attempts = try TestSupport.json(status.stdout)["attempts"]
        #expect(attempts?["starts"]?.intValue == 3 && attempts?["restarts"]?.intValue == 2)
        #expect(attempts?["last_failure"]?["exit_code"]?.intValue == 3)
        let text = try TestSupport.resumable("status", run)
        #expect(text.stdout.contains("2 after failures"), "\(text.stdout)")
        #expect(text.stdout.contains("attempt 2: exit code 3"), "\(text.stdout)")
    }

    @Test("a child that always crashes: stops at the cap with exit 1, journal shows each attempt")
    func alwaysCrashes() throws {
        let dir = TestSupport.temporaryDirectory("sup-always")
        let child = try SupervisorTestSupport.script(dir, "child.sh", "echo attempt $RESUMABLE_ATTEMPT >&2; exit 9")
        let run = dir + "/run"
        let outcome = try TestSupport.resumable("run", "--run-dir", run, "--max-restarts", "2", "--crash-loop", "0", "--backoff", "0", "--", child)
        #expect(outcome.status == 1, "\(outcome)")
        let starts = try SupervisorTestSupport.events(run, "start")
        #expect(starts.map { $0["attempt"]?.intValue } == [1, 2, 3])
        #expect(starts.allSatisfy { $0["command"] == .array([.string(child)]) && $0["pid"]?.intValue != nil })
        let fails = try SupervisorTestSupport.events(run, "fail")
        #expect(fails.map { $0["attempt"]?.intValue } == [1, 2, 3])
        #expect(fails.allSatisfy { $0["exit_code"]?.intValue == 9 && $0["duration"]?.doubleValue != nil })
        let giveUp = try SupervisorTestSupport.events(run, "give_up")
        #expect(giveUp.count == 1 && giveUp.first?["reason"]?.stringValue == "max-restarts")
        #expect(outcome.stderr.contains("attempt 3 ended with exit code 9"), "the message names the last failure: \(outcome.stderr)")
        #expect(outcome.stderr.contains("attempt 3") && outcome.stderr.contains("attempt 1"))
    }

    @Test("a child killed by a signal counts as a failure and is restarted")
    func killedBySignal() throws {
        let dir = TestSupport.temporaryDirectory("sup-killed")
        let child = try SupervisorTestSupport.script(dir, "child.sh", #"[ "$RESUMABLE_ATTEMPT" -ge 2 ] && exit 0; kill -SEGV $$"#)
        let run = dir + "/run"
        let outcome = try TestSupport.resumable("run", "--run-dir", run, "--backoff", "0", "--", child)
        #expect(outcome.status == 0, "\(outcome)")
        let fail = try SupervisorTestSupport.events(run, "fail")
        #expect(fail.count == 1 && fail.first?["signal_name"]?.stringValue == "SIGSEGV")
    }

    @Test("exit 75 restarts without counting against --max-restarts")
    func preemptedIsNotCounted() throws {
        let dir = TestSupport.temporaryDirectory("sup-75")
        let child = try SupervisorTestSupport.script(dir, "child.sh", #"[ "$RESUMABLE_ATTEMPT" -ge 4 ] && exit 0; exit 75"#)
        let run = dir + "/run"
        let outcome = try TestSupport.resumable("run", "--run-dir", run, "--max-restarts", "0", "--backoff", "0", "--", child)
        #expect(outcome.status == 0, "\(outcome)")
        #expect(try SupervisorTestSupport.events(run, "preempt").count == 3)
        let restarts = try SupervisorTestSupport.events(run, "restart")
        #expect(restarts.count == 3 && restarts.allSatisfy { $0["counted"]?.boolValue == false })
        let summary = try AttemptHistory(journal: EventJournal(runDirectory: run))
        #expect(summary.restarts == 0 && summary.preemptions == 3 && summary.attempts == 4)
    }

    @Test("exit 75 forever stops at --max-preemptions")
    func preemptionsAreBounded() throws {
        let dir = TestSupport.temporaryDirectory("sup-75cap")
        let child = try SupervisorTestSupport.script(dir, "child.sh", "exit 75")
        let run = dir + "/run"
        let outcome = try TestSupport.resumable("run", "--run-dir", run, "--max-preemptions", "2", "--backoff", "0", "--", child)
        #expect(outcome.status == 1, "\(outcome)")
        #expect(try SupervisorTestSupport.events(run, "start").count == 3)
        #expect(try SupervisorTestSupport.events(run, "give_up").first?["reason"]?.stringValue == "max-preemptions")
    }

    @Test("a crash loop (quick failures, no new checkpoint) stops before the cap with a message")
    func crashLoop() throws {
        let dir = TestSupport.temporaryDirectory("sup-loop")
        let child = try SupervisorTestSupport.script(dir, "child.sh", "echo 'ImportError: no module named torch' >&2; exit 1")
        let run = dir + "/run"
        let outcome = try TestSupport.resumable(
            "run", "--run-dir", run, "--max-restarts", "50", "--crash-loop", "3", "--backoff", "0", "--", child)
        #expect(outcome.status == 1, "\(outcome)")
        #expect(try SupervisorTestSupport.events(run, "start").count == 3)
        #expect(try SupervisorTestSupport.events(run, "give_up").first?["reason"]?.stringValue == "crash-loop")
        #expect(outcome.stderr.contains("crash loop"))
    }

    @Test("usage errors exit 64; a command that does not exist exits 66")
    func usageErrors() throws {
        let dir = TestSupport.temporaryDirectory("sup-usage")
        #expect(try TestSupport.resumable("run", "--run-dir", dir + "/r").status == 64)
        #expect(try TestSupport.resumable("run", "--run-dir", dir + "/r", "--backoff", "5,1", "--", "true").status == 64)
        #expect(try TestSupport.resumable("run", "--run-dir", dir + "/r", "--preempt-signal", "NOPE", "--", "true").status == 64)
        let missing = try TestSupport.resumable("run", "--run-dir", dir + "/r", "--", dir + "/no-such-program")
        #expect(missing.status == 66, "\(missing)")
        #expect(missing.stderr.contains("no-such-program"))
    }
}
