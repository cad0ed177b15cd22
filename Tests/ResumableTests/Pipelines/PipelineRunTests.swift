import Foundation
import Resumable
import Testing

/// `resumable pipeline run`, end to end through the built binary, with
/// shell stages that record every execution in `execs.txt`.
@Suite("resumable pipeline run")
struct PipelineRunTests {
    /// A pipeline directory with `yaml` as pipeline.yaml and `files`.
    struct Project {
        let directory: String
        var file: String { directory + "/pipeline.yaml" }
        var run: String { directory + "/runs/p" }

        init(_ yaml: String, files: [String: String] = [:]) throws {
            directory = TestSupport.temporaryDirectory("pipeline-run")
            try write("pipeline.yaml", yaml)
            for (path, text) in files { try write(path, text) }
        }

        func write(_ relative: String, _ text: String) throws {
            let path = directory + "/" + relative
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        }

        func read(_ relative: String) -> String {
            (try? String(contentsOfFile: directory + "/" + relative, encoding: .utf8)) ?? ""
        }

        /// The stages that ran, in order, one per line of execs.txt.
        var executions: [String] { read("execs.txt").split(separator: "\n").map(String.init) }

        @discardableResult
        func pipeline(_ arguments: String..., environment: [String: String] = [:]) throws -> TestSupport.Outcome {
            try TestSupport.run(
                TestSupport.resumable, ["pipeline"] + arguments, environment: environment, directory: directory, deadline: 120)
        }

        func ledger() throws -> StageLedger {
            try #require(try StageLedger.read(runDirectory: run))
        }
    }

    /// a → b, a → c; each stage appends its name to execs.txt and writes its output.
    static let diamond = """
        name: p
        run: runs/p
        stages:
          - name: a
            command: echo a >> execs.txt && cat data/a.txt > {stage_dir}/a.out
            inputs: [data/a.txt]
            outputs: [stages/a/a.out]
          - name: b
            needs: [a]
            command: echo b >> execs.txt && cat {stage_dir}/../a/a.out data/b.txt > {stage_dir}/b.out
            inputs: [data/b.txt]
            outputs: [stages/b/b.out]
          - name: c
            needs: [a]
            command: echo c >> execs.txt && cp {run}/stages/a/a.out {stage_dir}/c.out
            outputs: [stages/c/c.out]
          - name: d
            needs: [b]
            command: echo d >> execs.txt && cp {run}/stages/b/b.out {stage_dir}/d.out
            outputs: [stages/d/d.out]
        """

    @Test("stages run in dependency order once; a second run skips them all")
    func orderAndSkip() throws {
        let p = try Project(Self.diamond, files: ["data/a.txt": "A\n", "data/b.txt": "B\n"])
        let first = try p.pipeline("run", "pipeline.yaml", "--no-preflight")
        #expect(first.status == 0, "\(first)")
        #expect(p.executions == ["a", "b", "c", "d"])
        #expect(p.read("runs/p/stages/d/d.out") == "A\nB\n")
        let ledger = try p.ledger()
        for stage in ["a", "b", "c", "d"] {
            let record = ledger.record(stage)
            #expect(record.status == .completed, "\(stage): \(record)")
            #expect(record.attempts == 1)
            #expect(record.outputs.count == 1)
            #expect(record.outputs.first?.bytes ?? 0 > 0)
        }
        #expect(ledger.pipeline?.stages.map(\.name) == ["a", "b", "c", "d"])
        #expect(first.stderr.contains("complete: ran a, b, c, d"), "\(first.stderr)")

        let second = try p.pipeline("run", "pipeline.yaml", "--no-preflight")
        #expect(second.status == 0, "\(second)")
        #expect(p.executions == ["a", "b", "c", "d"], "nothing ran again")
        #expect(second.stderr.contains("a: up to date"), "\(second.stderr)")
        #expect(try p.ledger().record("a").attempts == 1)
    }

    @Test("one changed input byte re-runs exactly that stage and its downstream, and says why")
    func changedInput() throws {
        let p = try Project(Self.diamond, files: ["data/a.txt": "A\n", "data/b.txt": "B\n"])
        #expect(try p.pipeline("run", "pipeline.yaml", "--no-preflight").status == 0)
        try p.write("data/b.txt", "b\n")
        let dry = try p.pipeline("run", "pipeline.yaml", "--dry-run")
        #expect(dry.status == 0, "\(dry)")
        #expect(dry.stdout.contains("input data/b.txt changed"), "\(dry.stdout)")
        #expect(p.executions.count == 4, "--dry-run runs nothing")
        let again = try p.pipeline("run", "pipeline.yaml", "--no-preflight")
        #expect(again.status == 0, "\(again)")
        #expect(p.executions == ["a", "b", "c", "d", "b", "d"])
        #expect(again.stderr.contains("b: runs: input data/b.txt changed"), "\(again.stderr)")
        #expect(again.stderr.contains("d: runs: upstream b re-runs"), "\(again.stderr)")
        #expect(p.read("runs/p/stages/d/d.out") == "A\nb\n")
        // The previous version of b was kept aside, not resumed from.
        #expect(FileManager.default.fileExists(atPath: p.run + "/previous/b"))
    }

    @Test("a changed command re-runs that stage and its downstream")
    func changedCommand() throws {
        let p = try Project(Self.diamond, files: ["data/a.txt": "A\n", "data/b.txt": "B\n"])
        #expect(try p.pipeline("run", "pipeline.yaml", "--no-preflight").status == 0)
        try p.write("pipeline.yaml", Self.diamond.replacingOccurrences(of: "cp {run}/stages/a/a.out {stage_dir}/c.out", with: "cat {run}/stages/a/a.out > {stage_dir}/c.out"))
        let again = try p.pipeline("run", "pipeline.yaml", "--no-preflight")
        #expect(again.status == 0, "\(again)")
        #expect(p.executions == ["a", "b", "c", "d", "c"])
        #expect(again.stderr.contains("c: runs: command changed"), "\(again.stderr)")
    }

    @Test("a stage that exits 0 without its outputs fails, naming them; what needs it does not start")
    func missingOutputs() throws {
        let p = try Project(Self.diamond.replacingOccurrences(of: "cat data/a.txt > {stage_dir}/a.out", with: "true"), files: ["data/a.txt": "A\n", "data/b.txt": "B\n"])
        let outcome = try p.pipeline("run", "pipeline.yaml", "--no-preflight")
        #expect(outcome.status == 1, "\(outcome)")
        #expect(outcome.stderr.contains("stages/a/a.out"), "\(outcome.stderr)")
        #expect(p.executions == ["a"])
        let record = try p.ledger().record("a")
        #expect(record.status == .failed)
        #expect(record.exitCode == 0)
        #expect(record.errorTail.last?.contains("stages/a/a.out") == true, "\(record.errorTail)")
        #expect(try p.ledger().record("b").status == .notStarted)
    }

    @Test("a failed stage keeps its error tail; --keep-going runs the branches that do not need it")
    func keepGoing() throws {
        let yaml = """
            name: p
            run: runs/p
            stages:
              - name: bad
                command: echo bad >> execs.txt; for i in $(seq 1 30); do echo "line $i" >&2; done; exit 3
                max_restarts: 0
              - name: after_bad
                needs: [bad]
                command: echo after_bad >> execs.txt
              - name: good
                command: echo good >> execs.txt
            """
        let p = try Project(yaml)
        let stop = try p.pipeline("run", "pipeline.yaml", "--no-preflight")
        #expect(stop.status == 1, "\(stop)")
        #expect(p.executions == ["bad"], "without --keep-going nothing starts after a failure")
        let record = try p.ledger().record("bad")
        #expect(record.status == .failed)
        #expect(record.errorTail.contains("line 30"), "\(record.errorTail)")
        #expect(!record.errorTail.contains("line 5"))
        #expect(record.errorTail.count <= StageRecord.maxErrorLines)
        #expect(p.read("runs/p/logs/bad.log").contains("line 1\n"), "the log keeps everything")

        let going = try p.pipeline("run", "pipeline.yaml", "--no-preflight", "--keep-going")
        #expect(going.status == 1, "\(going)")
        #expect(p.executions == ["bad", "bad", "good"])
        #expect(going.stderr.contains("not started: after_bad"), "\(going.stderr)")
    }

    @Test("--jobs 2 runs independent stages at the same time")
    func parallel() throws {
        // Each stage waits (up to 20 s) for the other's marker: serially, the first would fail.
        let yaml = """
            name: p
            run: runs/p
            stages:
              - name: left
                command: touch left.mark; for i in $(seq 1 200); do [ -e right.mark ] && exit 0; sleep 0.1; done; exit 1
                max_restarts: 0
              - name: right
                command: touch right.mark; for i in $(seq 1 200); do [ -e left.mark ] && exit 0; sleep 0.1; done; exit 1
                max_restarts: 0
            """
        let p = try Project(yaml)
        let outcome = try p.pipeline("run", "pipeline.yaml", "--no-preflight", "--jobs", "2")
        #expect(outcome.status == 0, "\(outcome)")
        #expect(outcome.stderr.contains("[left] ") || outcome.stderr.contains("stage left"), "\(outcome.stderr)")
        #expect(try p.ledger().record("left").status == .completed)
        #expect(try p.ledger().record("right").status == .completed)
    }

    @Test("retries start a failed stage again; the ledger counts the attempts")
    func retries() throws {
        let yaml = """
            name: p
            run: runs/p
            stages:
              - name: flaky
                command: echo flaky >> execs.txt; [ "$(wc -l < execs.txt)" -ge 2 ] && echo ok > {stage_dir}/ok.txt
                outputs: [stages/flaky/ok.txt]
                max_restarts: 0
                retries: 2
            """
        let p = try Project(yaml)
        let outcome = try p.pipeline("run", "pipeline.yaml", "--no-preflight")
        #expect(outcome.status == 0, "\(outcome)")
        #expect(p.executions == ["flaky", "flaky"])
        let record = try p.ledger().record("flaky")
        #expect(record.status == .completed)
        #expect(record.attempts == 2)
    }

    @Test("the stage's environment and working directory")
    func environment() throws {
        let yaml = """
            name: p
            run: runs/p
            stages:
              - name: show
                command: [sh, -c, "pwd > {stage_dir}/env.txt; env | grep -E '^(RESUMABLE_(STAGE|PIPELINE_RUN_DIR|RUN_DIR|ATTEMPT|BIN)|LR)=' | sort >> {stage_dir}/env.txt"]
                env: {LR: "0.5"}
                outputs: [stages/show/env.txt]
            """
        let p = try Project(yaml)
        let outcome = try p.pipeline("run", "pipeline.yaml", "--no-preflight")
        #expect(outcome.status == 0, "\(outcome)")
        let lines = p.read("runs/p/stages/show/env.txt").split(separator: "\n").map(String.init)
        let real = (try? FileManager.default.destinationOfSymbolicLink(atPath: p.directory)) ?? p.directory
        #expect(lines.first == real || lines.first == p.directory, "\(lines)")
        #expect(lines.contains("LR=0.5"))
        #expect(lines.contains("RESUMABLE_STAGE=show"))
        #expect(lines.contains("RESUMABLE_ATTEMPT=1"))
        #expect(lines.contains { $0.hasPrefix("RESUMABLE_RUN_DIR=/") && $0.hasSuffix("/runs/p/stages/show") }, "\(lines)")
        #expect(lines.contains { $0.hasPrefix("RESUMABLE_PIPELINE_RUN_DIR=/") && $0.hasSuffix("/runs/p") }, "\(lines)")
        #expect(lines.contains { $0.hasPrefix("RESUMABLE_BIN=/") && $0.hasSuffix("/resumable") }, "\(lines)")
    }

    @Test("--only with an upstream that never ran is refused (64) naming it; nothing runs")
    func onlyRefused() throws {
        let p = try Project(Self.diamond, files: ["data/a.txt": "A\n", "data/b.txt": "B\n"])
        let outcome = try p.pipeline("run", "pipeline.yaml", "--no-preflight", "--only", "d")
        #expect(outcome.status == 64, "\(outcome)")
        #expect(outcome.stderr.contains("stage b is not_started (needed by d)"), "\(outcome.stderr)")
        #expect(p.executions.isEmpty)
        #expect(try p.pipeline("run", "pipeline.yaml", "--no-preflight").status == 0)
        let only = try p.pipeline("run", "pipeline.yaml", "--no-preflight", "--from", "b")
        #expect(only.status == 0, "\(only)")
        #expect(p.executions == ["a", "b", "c", "d", "b", "d"], "--from runs the stage and its downstream even when up to date")
    }

    @Test("SIGTERM stops the running stage (75), the ledger says interrupted, the next run resumes it; a second run is refused while one runs")
    func interruptAndLock() throws {
        let yaml = """
            name: p
            run: runs/p
            stages:
              - name: slow
                command: echo "slow $RESUMABLE_ATTEMPT" >> execs.txt; trap 'exit 75' TERM; if [ "$RESUMABLE_ATTEMPT" = 1 ]; then sleep 60 & wait; fi
              - name: next
                needs: [slow]
                command: echo next >> execs.txt
            """
        let p = try Project(yaml)
        let first = try TestProcess(TestSupport.resumable, ["pipeline", "run", "pipeline.yaml", "--no-preflight"], directory: p.directory)
        defer { first.terminate() }
        var waited = 0.0
        while p.executions.isEmpty && waited < 30 {
            usleep(50_000)
            waited += 0.05
        }
        #expect(p.executions == ["slow 1"])
        let second = try p.pipeline("run", "pipeline.yaml", "--no-preflight")
        #expect(second.status == 75, "\(second)")
        #expect(second.stderr.contains("in use by pid"), "\(second.stderr)")
        first.signal(SIGTERM)
        let stopped = first.wait(deadline: 60)
        #expect(stopped.status == 75, "\(stopped)")
        #expect(try p.ledger().record("slow").status == .interrupted)
        #expect(try p.ledger().record("next").status == .notStarted)
        let resumed = try p.pipeline("run", "pipeline.yaml", "--no-preflight")
        #expect(resumed.status == 0, "\(resumed)")
        #expect(resumed.stderr.contains("slow: runs: interrupted (attempt 1); resumes"), "\(resumed.stderr)")
        #expect(p.executions == ["slow 1", "slow 2", "next"])
        #expect(try p.ledger().record("slow").attempts == 2)
    }

    @Test("an invalid ledger is refused with 65 and its path, and left as it is")
    func invalidLedger() throws {
        let p = try Project(Self.diamond, files: ["data/a.txt": "A\n", "data/b.txt": "B\n"])
        try p.write("runs/p/stages.json", "{ not json")
        for arguments in [["run", "pipeline.yaml", "--no-preflight"], ["run", "pipeline.yaml", "--dry-run"]] {
            let outcome = try TestSupport.run(TestSupport.resumable, ["pipeline"] + arguments, directory: p.directory, deadline: 60)
            #expect(outcome.status == 65, "\(outcome)")
            #expect(outcome.stderr.contains("stages.json"), "\(outcome.stderr)")
        }
        #expect(p.read("runs/p/stages.json") == "{ not json")
        #expect(p.executions.isEmpty)
    }

    @Test("a stage's run directory replaced by a symbolic link is refused, and nothing is written through it")
    func symlinkedStageDirectory() throws {
        let p = try Project(Self.diamond, files: ["data/a.txt": "A\n", "data/b.txt": "B\n"])
        #expect(try p.pipeline("run", "pipeline.yaml", "--no-preflight").status == 0)
        // b was interrupted (so it would resume in its directory), which is now a link elsewhere.
        var ledger = try p.ledger()
        ledger.stages["b"]?.status = .interrupted
        try ledger.write(runDirectory: p.run)
        let elsewhere = TestSupport.temporaryDirectory("pipeline-elsewhere")
        try FileManager.default.removeItem(atPath: p.run + "/stages/b")
        try FileManager.default.createSymbolicLink(atPath: p.run + "/stages/b", withDestinationPath: elsewhere)
        let outcome = try p.pipeline("run", "pipeline.yaml", "--no-preflight")
        #expect(outcome.status == 1, "\(outcome)")
        #expect(outcome.stderr.contains("stages/b is a symbolic link"), "\(outcome.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: elsewhere).isEmpty)
        #expect(p.executions == ["a", "b", "c", "d"])
    }

    @Test("a stage's progress report (`resumable progress`) reaches the ledger")
    func progress() throws {
        let yaml = """
            name: p
            run: runs/p
            stages:
              - name: train
                command: for e in 1 2 3; do "$RESUMABLE_BIN" progress --epoch $e --of 3 --set loss=0.$e || exit 9; done
            """
        let p = try Project(yaml)
        let outcome = try p.pipeline("run", "pipeline.yaml", "--no-preflight")
        #expect(outcome.status == 0, "\(outcome)")
        let progress = try p.ledger().record("train").progress
        #expect(progress["epoch"]?.intValue == 3, "\(progress)")
        #expect(progress["of"]?.intValue == 3)
    }
}
