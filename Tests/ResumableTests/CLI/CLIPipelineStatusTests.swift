#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Resumable
import Testing

@Suite("resumable pipeline status")
struct CLIPipelineStatusTests {
    /// A fixture with operator completed (ledger progress 8/8), diff_residual failed,
    /// steady_prior left in_progress by a dead process, evaluate in_progress by this
    /// (live) process with a live progress.json; the outline recorded.
    static func mixed() throws -> PipelineFixture {
        let f = try PipelineFixture()
        var ledger = StageLedger()
        try f.complete("operator", in: &ledger)
        ledger.stages["operator"]?.progress = ["epoch": 8, "of": 8]
        var failed = StageRecord()
        failed.markStarted(fingerprint: StageFingerprint(command: "c", env: "e", inputs: [:], upstream: [:]))
        failed.markFailed(exitCode: 3, errorTail: ["Traceback (most recent call last):", "ValueError: \u{1B}[31mbad\u{1B}[0m"])
        ledger.stages["diff_residual"] = failed
        var dead = StageRecord()
        dead.markStarted(fingerprint: StageFingerprint(command: "c", env: "e", inputs: [:], upstream: [:]))
        dead.owner?.pid = PipelineStatusTests.deadPid
        ledger.stages["steady_prior"] = dead
        var live = StageRecord()
        live.markStarted(fingerprint: StageFingerprint(command: "c", env: "e", inputs: [:], upstream: [:]))
        ledger.stages["evaluate"] = live
        ledger.pipeline = PipelineOutline(try f.spec())
        try ledger.write(runDirectory: f.run)
        try RunProgress(epoch: 3, of: 8, step: 1200, counters: [:]).write(to: f.run + "/stages/evaluate")
        return f
    }

    static func bytes(_ path: String) -> Data? { FileManager.default.contents(atPath: path) }

    @Test("text: one row per stage, statuses, progress, outputs with sizes, verdict; piped output has words, no escapes")
    func text() throws {
        let f = try Self.mixed()
        defer { f.remove() }
        let outcome = try TestSupport.resumable("pipeline", "status", f.file)
        #expect(outcome.status == 0, "\(outcome)")
        let out = outcome.stdout
        #expect(!out.contains("\u{1B}"), "\(out)")
        #expect(!out.contains("✓") && !out.contains("▶"))
        let lines = out.split(separator: "\n").map(String.init)
        func row(_ stage: String) -> String { lines.first { $0.hasPrefix(stage + " ") } ?? "" }
        let size = "weights of operator".utf8.count
        #expect(row("operator").contains("completed"), "\(out)")
        #expect(row("operator").contains("epoch 8/8"))
        #expect(row("operator").contains("operator_ema.pt \(size) B"), "\(row("operator"))")
        #expect(row("diff_residual").contains("failed") && row("diff_residual").contains("(exit 3)"), "\(out)")
        #expect(row("steady_prior").contains("interrupted"), "\(out)")
        #expect(row("evaluate").contains("in_progress") && row("evaluate").contains("epoch 3/8") && row("evaluate").contains("running for"), "\(out)")
        #expect(out.contains("not complete: next to run: diff_residual (failed last time (exit 3)), steady_prior (interrupted (attempt 1); resumes), evaluate (in progress by a live process"), "\(out)")
        // The error line's escape sequence is shown escaped, never passed to the terminal.
        #expect(out.contains("ValueError: \\x1b[31mbad"), "\(out)")
        #expect(out.contains("pipeline  demo"))
    }

    @Test("on a terminal: symbols and colours (and NO_COLOR: symbols only)")
    func terminal() throws {
        let f = try Self.mixed()
        defer { f.remove() }
        let command = "'\(TestSupport.resumable)' pipeline status '\(f.file)'"
        let tty = try TestProcess("/usr/bin/script", ["-qec", command, "/dev/null"], environment: ["TERM": "xterm"], unsetting: ["NO_COLOR"])
            .wait(deadline: 60)
        #expect(tty.status == 0, "\(tty)")
        #expect(tty.stdout.contains("\u{1B}[32m✓ completed\u{1B}[0m"), "\(tty.stdout)")
        #expect(tty.stdout.contains("\u{1B}[31m✗ failed\u{1B}[0m"))
        #expect(tty.stdout.contains("\u{1B}[33m⏸ interrupted\u{1B}[0m"))
        #expect(tty.stdout.contains("▶ in_progress"))
        // The ledger's escape sequence is still escaped on a terminal.
        #expect(tty.stdout.contains("ValueError: \\x1b[31mbad"))
        let plain = try TestProcess("/usr/bin/script", ["-qec", command, "/dev/null"], environment: ["TERM": "xterm", "NO_COLOR": "1"])
            .wait(deadline: 60)
        #expect(plain.status == 0, "\(plain)")
        #expect(plain.stdout.contains("✓ completed"), "\(plain.stdout)")
        #expect(!plain.stdout.contains("\u{1B}[3"), "\(plain.stdout)")
    }

    @Test("--json: the documented keys, for a FILE and for a RUN; resumable status RUN prints the same")
    func json() throws {
        let f = try Self.mixed()
        defer { f.remove() }
        let (outcome, json) = try CLIFixture.json("pipeline", "status", f.file, "--json")
        #expect(outcome.status == 0, "\(outcome)")
        for key in ["pipeline", "file", "run", "complete", "running", "stages", "next"] { #expect(json[key] != nil, "\(key)") }
        #expect(json["pipeline"] == "demo")
        #expect(json["complete"]?.boolValue == false)
        #expect(json["running"] == .null)
        let stages = try #require(json["stages"]?.arrayValue)
        #expect(stages.map { $0["name"]?.stringValue ?? "" } == ["operator", "diff_residual", "steady_prior", "evaluate"])
        #expect(stages.map { $0["status"]?.stringValue ?? "" } == ["completed", "failed", "interrupted", "in_progress"])
        for stage in stages {
            for key in ["name", "status", "progress", "attempts", "exit_code", "outputs", "started_at", "completed_at", "duration_seconds",
                "latest_checkpoint", "trackers", "error_tail"]
            {
                #expect(stage[key] != nil, "\(key)")
            }
        }
        #expect(stages[0]["outputs"]?.arrayValue?.first?["bytes"]?.intValue == Int64("weights of operator".utf8.count))
        #expect(stages[3]["progress"]?["epoch"] == 3 && stages[3]["progress_source"] == "live")
        #expect(json["next"]?.arrayValue?.first?["stage"] == "diff_residual")

        let (runOutcome, runJSON) = try CLIFixture.json("pipeline", "status", f.run, "--json")
        #expect(runOutcome.status == 0, "\(runOutcome)")
        #expect(runJSON["stages"]?.arrayValue?.count == 4)
        #expect(runJSON["run"]?.stringValue == f.run)
        let (statusOutcome, statusJSON) = try CLIFixture.json("status", f.run, "--json")
        #expect(statusOutcome.status == 0, "\(statusOutcome)")
        #expect(statusJSON["pipeline"] == "demo" && statusJSON["stages"]?.arrayValue?.count == 4, "\(statusOutcome)")
        let statusText = try TestSupport.resumable("status", f.run)
        #expect(statusText.status == 0 && statusText.stdout.contains("not complete: next to run: diff_residual"), "\(statusText)")
    }

    @Test("no ledger: every stage not_started, exit 0")
    func neverRun() throws {
        let f = try PipelineFixture()
        defer { f.remove() }
        let outcome = try TestSupport.resumable("pipeline", "status", f.file)
        #expect(outcome.status == 0, "\(outcome)")
        #expect(outcome.stdout.split(separator: "\n").filter { $0.contains("not_started") }.count == 4, "\(outcome.stdout)")
        #expect(outcome.stdout.contains("never run"))
        #expect(outcome.stdout.contains("not complete: next to run: operator (not started), diff_residual (not started)"))
    }

    @Test("a FILE with a changed input names it; a RUN with only the outline follows the statuses")
    func verdicts() throws {
        let f = try PipelineFixture()
        defer { f.remove() }
        var ledger = StageLedger()
        try f.completeAll(&ledger)
        ledger.pipeline = PipelineOutline(try f.spec())
        try ledger.write(runDirectory: f.run)
        let done = try TestSupport.resumable("pipeline", "status", f.file)
        #expect(done.stdout.contains("pipeline complete"), "\(done)")
        try f.write("configs/a.json", "{}")
        try f.write("pipeline.yaml", PipelineFixture.yaml.replacingOccurrences(of: "inputs: [data/train.csv, data/extra]", with: "inputs: [data/train.csv, data/extra, configs/a.json]"))
        // Recompute: the fingerprint of operator now has another input.
        let added = try TestSupport.resumable("pipeline", "status", f.file)
        #expect(added.stdout.contains("not complete: next to run: operator (input configs/a.json added)"), "\(added.stdout)")
        try f.write("pipeline.yaml", PipelineFixture.yaml)
        try f.write("data/train.csv", "changed\n")
        let changed = try TestSupport.resumable("pipeline", "status", f.file)
        #expect(changed.stdout.contains("not complete: next to run: operator (input data/train.csv changed), diff_residual (upstream operator re-runs)"), "\(changed.stdout)")

        try FileManager.default.removeItem(atPath: f.file)
        let outline = try TestSupport.resumable("pipeline", "status", f.run)
        #expect(outline.status == 0, "\(outline)")
        #expect(outline.stdout.contains("pipeline complete"), "\(outline.stdout)")
        #expect(outline.stdout.contains("note: the pipeline file \(f.file) is gone"), "\(outline.stdout)")
    }

    @Test("an invalid ledger: exit 65 naming it, for a FILE, a RUN and resumable status; the file unchanged")
    func invalidLedger() throws {
        let f = try PipelineFixture()
        defer { f.remove() }
        try f.write("runs/demo/stages.json", "{\"schema_version\": 1, \"stages\": ")
        let before = Self.bytes(f.run + "/stages.json")
        for arguments in [["pipeline", "status", f.file], ["pipeline", "status", f.run], ["pipeline", "status", f.run, "--json"], ["status", f.run]] {
            let outcome = try TestSupport.run(TestSupport.resumable, arguments)
            #expect(outcome.status == 65, "\(arguments): \(outcome)")
            #expect(outcome.stderr.contains(f.run + "/stages.json"), "\(outcome.stderr)")
            #expect(outcome.stdout.isEmpty)
        }
        #expect(Self.bytes(f.run + "/stages.json") == before)
    }

    @Test("stages.json a symbolic link or a FIFO: refused with 65, without blocking")
    func misplacedLedger() throws {
        let f = try PipelineFixture()
        defer { f.remove() }
        try FileManager.default.createDirectory(atPath: f.run, withIntermediateDirectories: true)
        try StageLedger().write(runDirectory: f.directory)
        #expect(symlink(f.directory + "/stages.json", f.run + "/stages.json") == 0)
        for arguments in [["pipeline", "status", f.file], ["pipeline", "status", f.run], ["status", f.run]] {
            let outcome = try TestSupport.run(TestSupport.resumable, arguments, deadline: 30)
            #expect(!outcome.timedOut && outcome.status == 65, "\(arguments): \(outcome)")
            #expect(outcome.stderr.contains("symbolic link"), "\(outcome.stderr)")
        }
        try FileManager.default.removeItem(atPath: f.run + "/stages.json")
        #expect(mkfifo(f.run + "/stages.json", 0o644) == 0)
        for arguments in [["pipeline", "status", f.file], ["pipeline", "status", f.run], ["status", f.run], ["pipeline", "reset", f.file]] {
            let outcome = try TestSupport.run(TestSupport.resumable, arguments, deadline: 30)
            #expect(!outcome.timedOut && outcome.status == 65, "\(arguments): \(outcome)")
            #expect(outcome.stderr.contains(f.run + "/stages.json"), "\(outcome.stderr)")
        }
        #expect(FileSystem.entryType(f.run + "/stages.json") == .other)
    }

    @Test("a stage directory that is a link or garbage: status still prints, naming the problem")
    func hostileStageDirectory() throws {
        let f = try Self.mixed()
        defer { f.remove() }
        let elsewhere = TestSupport.temporaryDirectory("pstatus-cli-elsewhere")
        defer { try? FileManager.default.removeItem(atPath: elsewhere) }
        try FileManager.default.removeItem(atPath: f.run + "/stages/evaluate")
        #expect(symlink(elsewhere, f.run + "/stages/evaluate") == 0)
        try f.write("runs/demo/stages/diff_residual/run.json", "\u{1B}]0;pwned\u{07} garbage")
        let outcome = try TestSupport.resumable("pipeline", "status", f.file, deadline: 30)
        #expect(outcome.status == 0, "\(outcome)")
        let lines = outcome.stdout.split(separator: "\n").map(String.init)
        #expect(lines.contains { $0.hasPrefix("STAGE ") && $0.hasSuffix("PROBLEM") }, "\(outcome.stdout)")
        // Each problem in its stage's row.
        #expect(lines.contains { $0.hasPrefix("evaluate ") && $0.contains("stages/evaluate is a symbolic link") }, "\(outcome.stdout)")
        #expect(lines.contains { $0.hasPrefix("diff_residual ") && $0.contains("diff_residual/run.json") }, "\(outcome.stdout)")
        #expect(lines.contains { $0.hasPrefix("operator ") && $0.hasSuffix(" -") }, "\(outcome.stdout)")
        #expect(!outcome.stdout.contains("\u{1B}"))
        let (jsonOutcome, json) = try CLIFixture.json("pipeline", "status", f.file, "--json")
        #expect(jsonOutcome.status == 0, "\(jsonOutcome)")
        #expect(json["stages"]?.arrayValue?[3]["problems"]?.arrayValue?.isEmpty == false)
    }

    @Test("the live pipeline run holding the lock is shown")
    func running() throws {
        let f = try Self.mixed()
        defer { f.remove() }
        let lock = try RunLock.acquire(directory: f.run)
        defer { lock.release() }
        let outcome = try TestSupport.resumable("pipeline", "status", f.file)
        #expect(outcome.stdout.contains("running   pid \(getpid()) on \(RunLock.hostName()) since "), "\(outcome.stdout)")
        let (_, json) = try CLIFixture.json("pipeline", "status", f.run, "--json")
        #expect(json["running"]?["pid"]?.intValue == Int64(getpid()))
    }

    @Test("paths: missing 66, a directory without stages.json 64, a checkpoint run 64, an invalid pipeline file 64/65")
    func paths() throws {
        let f = try PipelineFixture()
        defer { f.remove() }
        #expect(try TestSupport.resumable("pipeline", "status", f.directory + "/nothing").status == 66)
        #expect(try TestSupport.resumable("pipeline", "status", f.directory).status == 64)
        let run = try CLIFixture.makeRun("pstatus-cli-ckpt", steps: [100])
        defer { try? FileManager.default.removeItem(atPath: (run as NSString).deletingLastPathComponent) }
        let ckpt = try TestSupport.resumable("pipeline", "status", run)
        #expect(ckpt.status == 64 && ckpt.stderr.contains("resumable status"), "\(ckpt)")
        try f.write("bad.yaml", "name: x\nrun: r\nstages: [")
        let bad = try TestSupport.resumable("pipeline", "status", f.directory + "/bad.yaml")
        #expect(bad.status == 65 && bad.stderr.contains("bad.yaml:"), "\(bad)")
        try f.write("wrong.yaml", "name: x\nrun: r\nstages:\n  - name: a\n    command: c\n    needs: b\n")
        #expect(try TestSupport.resumable("pipeline", "status", f.directory + "/wrong.yaml").status == 64)
        #expect(try TestSupport.resumable("pipeline", "status").status == 64)
    }

    @Test("resumable status on an ordinary run with stages.json beside run.json adds a Pipeline section")
    func statusSection() throws {
        let run = try CLIFixture.makeRun("pstatus-cli-section", steps: [100])
        defer { try? FileManager.default.removeItem(atPath: (run as NSString).deletingLastPathComponent) }
        var ledger = StageLedger()
        ledger.stages["train"] = StageRecord(status: .completed)
        try ledger.write(runDirectory: run)
        let text = try TestSupport.resumable("status", run)
        #expect(text.status == 0, "\(text)")
        #expect(text.stdout.contains("Pipeline\n"), "\(text.stdout)")
        #expect(text.stdout.contains("stage train:"), "\(text.stdout)")
        let (outcome, json) = try CLIFixture.json("status", run, "--json")
        #expect(outcome.status == 0)
        #expect(json["pipeline"]?["stages"]?.arrayValue?.first?["status"] == "completed")
        #expect(json["identity"] != nil)
    }
}
