import Foundation
import Resumable
import Testing

/// Attempts and resumes counted one way by `status`, the supervisor's
/// numbering and its messages; permanent failures and crash loops stop early.
/// Through the built binary (issue 11 items 2 and 5).
@Suite("resumable run: the journal's attempts, permanent failures, crash loops")
struct SupervisorJournalTests {
    static func lines(_ path: String) -> [String] {
        ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    @Test("a job SIGKILLed twice after committing: 3 attempts, 2 resumes, 'finished after 3 attempts' across supervisors")
    func killedTwiceResumedTwice() throws {
        let dir = TestSupport.temporaryDirectory("sup-journal-kill2")
        let child = try SupervisorTestSupport.script(
            dir, "child.sh",
            """
            d=$(mktemp -d) && echo "$RESUMABLE_ATTEMPT" > "$d/a.txt"
            "$RESUMABLE_BIN" commit "$RESUMABLE_RUN_DIR" --step "$RESUMABLE_ATTEMPT" "$d" >/dev/null || exit 5
            rm -rf "$d"
            [ "$RESUMABLE_ATTEMPT" -le 2 ] && kill -9 $$
            exit 0
            """)
        let run = dir + "/run"
        let env = ["RESUMABLE_BIN": TestSupport.resumable]
        // The first supervisor gives up after attempts 1 and 2 (both killed); a second one finishes.
        let first = try TestSupport.run(
            TestSupport.resumable, ["run", "--run-dir", run, "--max-restarts", "1", "--backoff", "0", "--", child], environment: env)
        #expect(first.status == 1, "\(first)")
        let second = try TestSupport.run(
            TestSupport.resumable, ["run", "--run-dir", run, "--backoff", "0", "--", child], environment: env)
        #expect(second.status == 0, "\(second)")
        #expect(second.stderr.contains("Attempt 3 finished"), "\(second.stderr)")
        #expect(second.stderr.contains("finished after 3 attempts"), "\(second.stderr)")
        let status = try TestSupport.resumable("status", run, "--json")
        #expect(status.status == 0, "\(status)")
        let attempts = try TestSupport.json(status.stdout)["attempts"]
        #expect(attempts?["starts"]?.intValue == 3, "\(status.stdout)")
        #expect(attempts?["resumes"]?.intValue == 2, "\(status.stdout)")
        let text = try TestSupport.resumable("status", run)
        #expect(text.stdout.contains("3 times, resumed 2"), "\(text.stdout)")
        #expect(try SupervisorTestSupport.events(run).allSatisfy { $0["source"]?.stringValue != nil }, "every line names its writer")
    }

    @Test("the digits job under resumable run: the training loop's start is no attempt of its own")
    func digitsAttemptsNotInflated() throws {
        let dir = TestSupport.temporaryDirectory("sup-journal-digits")
        let run = dir + "/run"
        func args(_ epochs: Int) -> String {
            DigitsResumeTests.arguments("$RESUMABLE_RUN_DIR", epochs: epochs).map { "'\($0)'" }.joined(separator: " ")
                .replacingOccurrences(of: "'$RESUMABLE_RUN_DIR'", with: "\"$RESUMABLE_RUN_DIR\"")
        }
        let child = try SupervisorTestSupport.script(
            dir, "child.sh",
            """
            echo "attempt=$RESUMABLE_ATTEMPT" >> '\(dir)/seen'
            if [ "$RESUMABLE_ATTEMPT" = 1 ]; then '\(DigitsResumeTests.digits)' \(args(1)) >/dev/null || exit 9; kill -9 $$; fi
            exec '\(DigitsResumeTests.digits)' \(args(2)) >/dev/null
            """)
        let outcome = try TestSupport.resumable("run", "--run-dir", run, "--backoff", "0", "--", child)
        #expect(outcome.status == 0, "\(outcome)")
        #expect(Self.lines(dir + "/seen") == ["attempt=1", "attempt=2"])
        #expect(try SupervisorTestSupport.events(run, "start").filter { $0["source"]?.stringValue == "supervisor" }
            .map { $0["attempt"]?.intValue } == [1, 2])
        #expect(outcome.stderr.contains("finished after 2 attempts"), "\(outcome.stderr)")
        let attempts = try TestSupport.json(try TestSupport.resumable("status", run, "--json").stdout)["attempts"]
        #expect(attempts?["starts"]?.intValue == 2 && attempts?["resumes"]?.intValue == 1, "\(String(describing: attempts))")
    }

    @Test("a journal written before sources existed gives the same counts")
    func legacyJournal() throws {
        let dir = TestSupport.temporaryDirectory("sup-journal-legacy")
        let run = dir + "/run"
        try CheckpointStore(directory: run, access: .write, create: true).close()
        let legacy = [
            #"{"event":"start","attempt":1,"pid":10,"resume_from":null,"resume_step":null,"time":"2025-01-01T00:00:00Z"}"#,
            #"{"event":"start","config_fingerprint":"abc","time":"2025-01-01T00:00:01Z"}"#,
            #"{"event":"save","step":5,"epoch":0,"time":"2025-01-01T00:00:02Z"}"#,
            #"{"event":"fail","attempt":1,"signal":9,"signal_name":"SIGKILL","step":5,"time":"2025-01-01T00:00:03Z"}"#,
            #"{"event":"restart","attempt":2,"counted":true,"delay":0,"time":"2025-01-01T00:00:03Z"}"#,
            #"{"event":"start","attempt":2,"pid":11,"resume_from":"x/step-5","resume_step":5,"time":"2025-01-01T00:00:04Z"}"#,
            #"{"event":"resume","from":"x/step-5","step":5,"time":"2025-01-01T00:00:05Z"}"#,
            #"{"event":"finish","attempt":2,"exit_code":0,"step":5,"time":"2025-01-01T00:00:06Z"}"#,
        ]
        try (legacy.joined(separator: "\n") + "\n").write(toFile: run + "/events.jsonl", atomically: false, encoding: .utf8)
        let attempts = try TestSupport.json(try TestSupport.resumable("status", run, "--json").stdout)["attempts"]
        #expect(attempts?["starts"]?.intValue == 2 && attempts?["resumes"]?.intValue == 1, "\(String(describing: attempts))")
        #expect(attempts?["restarts"]?.intValue == 1)
        let child = try SupervisorTestSupport.script(dir, "child.sh", "echo $RESUMABLE_ATTEMPT > '\(dir)/seen'")
        let outcome = try TestSupport.resumable("run", "--run-dir", run, "--", child)
        #expect(outcome.status == 0, "\(outcome)")
        #expect(Self.lines(dir + "/seen") == ["3"], "the training loop's legacy start is not an attempt")
    }

    @Test("train.py without numpy/safetensors: one attempt, exit 78, a message saying what to do")
    func missingModuleStopsAtOnce() throws {
        let dir = TestSupport.temporaryDirectory("sup-journal-nomodule")
        let run = dir + "/run"
        let started = Date()
        // -I -S: no user or system site-packages, whatever this machine has installed.
        let outcome = try TestSupport.resumable(
            "run", "--run-dir", run, "--", "/usr/bin/python3", "-I", "-S", PythonExampleTests.script, "--steps", "10")
        #expect(outcome.status == 78, "\(outcome)")
        #expect(Date().timeIntervalSince(started) < 30)
        #expect(outcome.stderr.contains("train.py: needs numpy and safetensors: run scripts/setup-python.sh and use .venv/bin/python"))
        #expect(outcome.stderr.contains("exited with code 78") && outcome.stderr.contains("restarting would not help"), "\(outcome.stderr)")
        #expect(try SupervisorTestSupport.events(run, "start").count == 1)
        #expect(try SupervisorTestSupport.events(run, "give_up").first?["reason"]?.stringValue == "permanent-exit")
        #expect(try SupervisorTestSupport.events(run, "restart").isEmpty)

        let missing = try SupervisorTestSupport.script(dir, "missing.sh", "no_such_command_xyz_resumable")
        let notFound = try TestSupport.resumable("run", "--run-dir", dir + "/run127", "--", missing)
        #expect(notFound.status == 127, "\(notFound)")
        #expect(try SupervisorTestSupport.events(dir + "/run127", "start").count == 1)
    }

    @Test("a job failing at once every time stops by crash-loop detection before --max-restarts, with the defaults")
    func crashLoopWithDefaults() throws {
        let dir = TestSupport.temporaryDirectory("sup-journal-loop")
        let child = try SupervisorTestSupport.script(dir, "child.sh", "echo 'something is wrong' >&2; exit 1")
        let run = dir + "/run"
        let outcome = try TestSupport.resumable("run", "--run-dir", run, "--backoff", "0", "--", child)
        #expect(outcome.status == 1, "\(outcome)")
        #expect(try SupervisorTestSupport.events(run, "give_up").first?["reason"]?.stringValue == "crash-loop")
        #expect(try SupervisorTestSupport.events(run, "start").count == 3, "fewer than the 4 attempts of --max-restarts 3")
        #expect(outcome.stderr.contains("crash loop"))
    }
}
