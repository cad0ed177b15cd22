#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Resumable
import Testing

@Suite("Pipelines: pipeline status and reset (library)")
struct PipelineStatusTests {
    /// A pid no process can have (above the kernel's largest pid_max), so its owner is gone.
    static let deadPid: Int32 = 2_000_000_000

    static func stage(_ status: PipelineStatus, _ name: String) -> PipelineStatus.Stage? {
        status.stages.first { $0.name == name }
    }

    @Test("no ledger: every stage not_started, the verdict names them all")
    func noLedger() throws {
        let f = try PipelineFixture()
        defer { f.remove() }
        let status = try PipelineStatus.load(path: f.file)
        #expect(!status.ledgerFound)
        #expect(status.source == .file)
        #expect(status.name == "demo")
        #expect(status.stages.map(\.name) == ["operator", "diff_residual", "steady_prior", "evaluate"])
        #expect(status.stages.allSatisfy { $0.status == .notStarted && $0.attempts == 0 && $0.progress == nil })
        #expect(!status.complete)
        #expect(status.next.map(\.stage) == ["operator", "diff_residual", "steady_prior", "evaluate"])
        #expect(status.verdict.hasPrefix("not complete: next to run: operator (not started), diff_residual (not started)"))
        #expect(status.running == nil)
        // Nothing was created.
        #expect(!FileManager.default.fileExists(atPath: f.run))
    }

    @Test("each status as the ledger records it; in_progress of a dead owner is interrupted; durations")
    func statuses() throws {
        let f = try PipelineFixture()
        defer { f.remove() }
        var ledger = StageLedger()
        try f.complete("operator", in: &ledger)
        ledger.stages["operator"]?.startedAt = "2026-11-29T10:00:00Z"
        ledger.stages["operator"]?.completedAt = "2026-11-29T11:02:03Z"
        var failed = StageRecord()
        failed.markStarted(fingerprint: StageFingerprint(command: "c", env: "e", inputs: [:], upstream: [:]))
        failed.markFailed(exitCode: 3, errorTail: ["Traceback", "ValueError: bad"])
        ledger.stages["diff_residual"] = failed
        ledger.stages["steady_prior"] = StageRecord(status: .skipped)
        var dead = StageRecord()
        dead.markStarted(fingerprint: StageFingerprint(command: "c", env: "e", inputs: [:], upstream: [:]), at: "2026-11-29T12:00:00Z")
        dead.owner?.pid = Self.deadPid
        ledger.stages["evaluate"] = dead
        try ledger.write(runDirectory: f.run)

        let status = try PipelineStatus.load(path: f.file, now: Timestamp.parse("2026-11-29T12:10:00Z")!)
        #expect(Self.stage(status, "operator")?.status == .completed)
        #expect(Self.stage(status, "operator")?.durationSeconds == 3723)
        #expect(Self.stage(status, "operator")?.outputs.first?.bytes == Int64("weights of operator".utf8.count))
        #expect(Self.stage(status, "diff_residual")?.status == .failed)
        #expect(Self.stage(status, "diff_residual")?.exitCode == 3)
        #expect(Self.stage(status, "diff_residual")?.errorTail == ["Traceback", "ValueError: bad"])
        #expect(Self.stage(status, "steady_prior")?.status == .skipped)
        #expect(Self.stage(status, "evaluate")?.status == .interrupted)
        #expect(Self.stage(status, "evaluate")?.recordedStatus == .inProgress)
        #expect(Self.stage(status, "evaluate")?.durationSeconds == nil)
        #expect(status.next.first { $0.stage == "evaluate" }?.reason == "interrupted (attempt 1); resumes")
        #expect(status.next.first { $0.stage == "diff_residual" }?.reason == "failed last time (exit 3)")

        // A live owner (this process): in_progress, running for now − started.
        ledger.stages["evaluate"]?.owner = .current()
        try ledger.write(runDirectory: f.run)
        let live = try PipelineStatus.load(path: f.file, now: Timestamp.parse("2026-11-29T12:10:00Z")!)
        #expect(Self.stage(live, "evaluate")?.status == .inProgress)
        #expect(Self.stage(live, "evaluate")?.durationSeconds == 600)
        #expect(live.next.first { $0.stage == "evaluate" }?.reason.hasPrefix("in progress by a live process (pid \(getpid())") == true)
    }

    @Test("progress: the live progress.json while in_progress, else the ledger's, else the latest checkpoint; trackers")
    func progress() throws {
        let f = try PipelineFixture()
        defer { f.remove() }
        var ledger = StageLedger()
        try f.complete("operator", in: &ledger)
        ledger.stages["operator"]?.progress = ["epoch": 8, "of": 8, "step": 1600]
        var running = StageRecord()
        running.markStarted(fingerprint: StageFingerprint(command: "c", env: "e", inputs: [:], upstream: [:]))
        running.progress = ["epoch": 1, "of": 8]  // older than the live report
        ledger.stages["diff_residual"] = running
        try ledger.write(runDirectory: f.run)
        try RunProgress(epoch: 3, of: 8, step: 1200, counters: ["loss": 0.5]).write(to: f.run + "/stages/diff_residual")

        // steady_prior: a stage run with a checkpoint at epoch 2 and trackers, no progress reported.
        let store = try CheckpointStore(directory: f.run + "/stages/steady_prior", access: .write, create: true)
        try store.updateRun { $0.trackers["wandb"] = "wb-123" }
        try store.commit(step: 40) { draft in
            draft.epoch = 2
            draft.metadata["mlflow"] = ["run_id": "ml-9"]
            try draft.writeJSON(named: "state.json", ["x": 1])
        }
        store.close()

        let status = try PipelineStatus.load(path: f.file)
        let op = try #require(Self.stage(status, "operator"))
        #expect(op.progressSource == .ledger && op.progressText == "epoch 8/8")
        let diff = try #require(Self.stage(status, "diff_residual"))
        #expect(diff.progressSource == .live && diff.progressText == "epoch 3/8")
        #expect(diff.progress?["step"] == 1200 && diff.progress?["loss"] == 0.5)
        let prior = try #require(Self.stage(status, "steady_prior"))
        #expect(prior.progressSource == .checkpoint && prior.progressText == "epoch 2 (checkpoint)")
        #expect(prior.latestCheckpoint?.step == 40 && prior.latestCheckpoint?.epoch == 2)
        #expect(prior.latestCheckpoint?.path.hasSuffix("stages/steady_prior/checkpoints/" + Checkpoint.directoryName(step: 40)) == true)
        #expect(prior.trackers == ["wandb": "wb-123", "mlflow": "ml-9"])
        #expect(prior.problems.isEmpty, "\(prior.problems)")
        #expect(Self.stage(status, "evaluate")?.progress == nil)

        // The JSON has the documented keys.
        let json = status.json
        for key in ["pipeline", "file", "run", "complete", "running", "stages", "next", "notes", "source", "ledger"] {
            #expect(json[key] != nil, "\(key)")
        }
        let first = try #require(json["stages"]?.arrayValue?.first)
        for key in ["name", "status", "progress", "attempts", "exit_code", "outputs", "started_at", "completed_at", "duration_seconds",
            "latest_checkpoint", "trackers", "error_tail", "problems", "ledger_status", "progress_source"]
        {
            #expect(first[key] != nil, "\(key)")
        }
        #expect(first["outputs"]?.arrayValue?.first?["sha256"]?.stringValue?.count == 64)
    }

    @Test("the verdict with a FILE compares fingerprints: a changed input and what is downstream")
    func verdictWithFile() throws {
        let f = try PipelineFixture()
        defer { f.remove() }
        var ledger = StageLedger()
        try f.completeAll(&ledger)
        try ledger.write(runDirectory: f.run)
        let done = try PipelineStatus.load(path: f.file)
        #expect(done.complete, "\(done.next)")
        #expect(done.verdict == "pipeline complete")

        try f.write("data/train.csv", "x,y\n1,3\n")
        let changed = try PipelineStatus.load(path: f.file)
        #expect(!changed.complete)
        #expect(changed.next.first == PipelineStatus.Next(stage: "operator", reason: "input data/train.csv changed"))
        #expect(changed.next.contains(PipelineStatus.Next(stage: "diff_residual", reason: "upstream operator re-runs")))
        #expect(changed.verdict.hasPrefix("not complete: next to run: operator (input data/train.csv changed)"))
    }

    @Test("a RUN: the outline's file when it loads; the outline alone when the file is gone")
    func verdictWithRun() throws {
        let f = try PipelineFixture()
        defer { f.remove() }
        var ledger = StageLedger()
        try f.complete("operator", in: &ledger)
        try f.complete("diff_residual", in: &ledger)
        ledger.pipeline = PipelineOutline(try f.spec())
        try ledger.write(runDirectory: f.run)

        let withFile = try PipelineStatus.load(path: f.run)
        #expect(withFile.source == .file)
        #expect(withFile.run == f.run)
        #expect(withFile.next.map(\.stage) == ["steady_prior", "evaluate"])

        try FileManager.default.removeItem(atPath: f.file)
        let outline = try PipelineStatus.load(path: f.run)
        #expect(outline.source == .outline)
        #expect(outline.file == f.file)
        #expect(outline.stages.map(\.name) == ["operator", "diff_residual", "steady_prior", "evaluate"])
        #expect(outline.next == [.init(stage: "steady_prior", reason: "not started"), .init(stage: "evaluate", reason: "not started")])
        #expect(outline.notes.contains { $0.contains("is gone") }, "\(outline.notes)")

        // Outline only: a completed stage whose recorded output is gone runs again, and so does what needs it.
        try FileManager.default.removeItem(atPath: f.run + "/stages/operator/operator_ema.pt")
        let missing = try PipelineStatus.load(path: f.run)
        #expect(missing.next.first == .init(stage: "operator", reason: "output stages/operator/operator_ema.pt missing"))
        #expect(missing.next.contains(.init(stage: "diff_residual", reason: "upstream operator re-runs")))
    }

    @Test("paths that are not a pipeline: missing 66, a plain directory or a checkpoint run 64, a FIFO 64")
    func wrongPaths() throws {
        let dir = TestSupport.temporaryDirectory("pstatus-paths")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(throws: ResumableError.self) { try PipelineStatus.load(path: dir + "/nothing") }
        do { _ = try PipelineStatus.load(path: dir + "/nothing") } catch let e as ResumableError { #expect(e.exitCode == 66) }
        do { _ = try PipelineStatus.load(path: dir) } catch let e as ResumableError { #expect(e.exitCode == 64, "\(e.message)") }
        #expect(mkfifo(dir + "/fifo", 0o644) == 0)
        do { _ = try PipelineStatus.load(path: dir + "/fifo") } catch let e as ResumableError { #expect(e.exitCode == 64, "\(e.message)") }
        let run = try CLIFixture.makeRun("pstatus-ckpt", steps: [100])
        defer { try? FileManager.default.removeItem(atPath: (run as NSString).deletingLastPathComponent) }
        do {
            _ = try PipelineStatus.load(path: run)
            Issue.record("a checkpoint run was accepted")
        } catch let e as ResumableError {
            #expect(e.exitCode == 64)
            #expect(e.message.contains("checkpoint run"), "\(e.message)")
        }
    }

    @Test("hostile stage directories are named in the row, never fatal")
    func hostileStageDirectories() throws {
        let f = try PipelineFixture()
        defer { f.remove() }
        var ledger = StageLedger()
        try f.complete("operator", in: &ledger)
        try ledger.write(runDirectory: f.run)
        let elsewhere = TestSupport.temporaryDirectory("pstatus-elsewhere")
        defer { try? FileManager.default.removeItem(atPath: elsewhere) }
        _ = try CheckpointStore(directory: elsewhere, access: .write, create: true)
        // operator: the stage directory (holding its outputs) moved away and replaced by a link.
        try FileManager.default.moveItem(atPath: f.run + "/stages/operator", toPath: elsewhere + "/op")
        #expect(symlink(elsewhere, f.run + "/stages/operator") == 0)
        // diff_residual: a regular file.
        try f.write("runs/demo/stages/diff_residual", "garbage")
        // steady_prior: a run.json that is not JSON.
        try f.write("runs/demo/stages/steady_prior/run.json", "{{{ not json")
        // evaluate: checkpoints/ a link, progress.json a FIFO.
        try FileManager.default.createDirectory(atPath: f.run + "/stages/evaluate", withIntermediateDirectories: true)
        try f.write("runs/demo/stages/evaluate/run.json", "{}")
        #expect(symlink(elsewhere + "/checkpoints", f.run + "/stages/evaluate/checkpoints") == 0)
        var running = StageRecord()
        running.markStarted(fingerprint: StageFingerprint(command: "c", env: "e", inputs: [:], upstream: [:]))
        ledger.stages["evaluate"] = running
        try ledger.write(runDirectory: f.run)
        #expect(mkfifo(f.run + "/stages/evaluate/progress.json", 0o644) == 0)

        let status = try PipelineStatus.load(path: f.file)
        #expect(Self.stage(status, "operator")?.problems.first?.contains("symbolic link") == true)
        #expect(Self.stage(status, "operator")?.latestCheckpoint == nil)
        #expect(Self.stage(status, "diff_residual")?.problems.first?.contains("regular file") == true)
        #expect(Self.stage(status, "steady_prior")?.problems.first?.contains("run.json") == true, "\(Self.stage(status, "steady_prior")?.problems ?? [])")
        let evaluate = try #require(Self.stage(status, "evaluate"))
        #expect(evaluate.problems.contains { $0.contains("progress.json") }, "\(evaluate.problems)")
        #expect(evaluate.problems.contains { $0.contains("symbolic link") }, "\(evaluate.problems)")
        // operator's output is behind the link now: the verdict says it is missing.
        #expect(status.next.first?.stage == "operator")
    }

    @Test("resumable status's pipeline section: shown when stages.json is beside run.json; a damaged ledger is shown damaged")
    func contributor() throws {
        let run = try CLIFixture.makeRun("pstatus-section", steps: [100])
        defer { try? FileManager.default.removeItem(atPath: (run as NSString).deletingLastPathComponent) }
        #expect(PipelineStatusContributor.section(runDirectory: run) == nil)
        var ledger = StageLedger()
        ledger.stages["train"] = StageRecord(status: .failed)
        try ledger.write(runDirectory: run)
        let section = try #require(PipelineStatusContributor.section(runDirectory: run))
        #expect(section.id == "pipeline")
        #expect(section.rows.contains { $0.label == "stage train" && $0.value.hasPrefix("failed") })
        #expect(section.rows.last?.value == "not complete: next to run: train (failed last time)")
        #expect(section.json["stages"]?.arrayValue?.count == 1)
        try Data("{".utf8).write(to: URL(fileURLWithPath: run + "/stages.json"))
        let damaged = try #require(PipelineStatusContributor.section(runDirectory: run))
        #expect(damaged.json["damaged"]?.stringValue?.contains(run + "/stages.json") == true)
        #expect(!PipelineStatus.isPipelineRunDirectory(run))
    }

    @Test("reset: the named stages and everything downstream; nothing else; the outline written; stale temporaries removed")
    func reset() throws {
        let f = try PipelineFixture()
        defer { f.remove() }
        let spec = try f.spec()
        #expect(try PipelineReset.run(spec: spec, stages: []).reset == [])
        #expect(!FileManager.default.fileExists(atPath: f.run))  // nothing created
        var ledger = StageLedger()
        try f.completeAll(&ledger)
        try ledger.write(runDirectory: f.run)
        try f.write("runs/demo/stages.json.tmp-1-2", "left by a killed write")
        #expect(try PipelineReset.run(spec: spec, stages: ["diff_residual"]).reset == ["diff_residual", "evaluate"])
        let after = try #require(try StageLedger.read(runDirectory: f.run))
        #expect(after.record("operator") == ledger.record("operator"))
        #expect(after.record("steady_prior") == ledger.record("steady_prior"))
        #expect(after.record("diff_residual") == StageRecord() && after.record("evaluate") == StageRecord())
        #expect(after.pipeline == PipelineOutline(spec))
        #expect(try FileManager.default.contentsOfDirectory(atPath: f.run).filter { $0.hasPrefix("stages.json") } == ["stages.json"])
        // Outputs are left alone.
        #expect(FileManager.default.fileExists(atPath: f.run + "/stages/diff_residual/model.pt"))
        #expect(try PipelineReset.run(spec: spec, stages: ["evaluate"]).reset == [])
        #expect(try PipelineReset.run(spec: spec, stages: []).reset == ["operator", "steady_prior"])
        do {
            _ = try PipelineReset.run(spec: spec, stages: ["nope"])
            Issue.record("an unknown stage was accepted")
        } catch let e as ResumableError {
            #expect(e.exitCode == 64)
            #expect(e.message.contains("operator, diff_residual, steady_prior, evaluate"), "\(e.message)")
        }
    }
}

extension PipelineStatusTests {
    @Test("a ledger's stage names that are not plain names are shown, their directories never read")
    func hostileStageNames() throws {
        let dir = TestSupport.temporaryDirectory("pstatus-names")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let run = dir + "/run"
        // A checkpoint run the name would reach: its checkpoint must not show up.
        let other = try CLIFixture.makeRun("pstatus-names-other", steps: [100])
        defer { try? FileManager.default.removeItem(atPath: (other as NSString).deletingLastPathComponent) }
        try FileManager.default.createDirectory(atPath: run + "/stages", withIntermediateDirectories: true)
        var ledger = StageLedger()
        // {run}/stages/NAME would be the other run: a path, not a name.
        let sneaky = "../../../" + ((other as NSString).deletingLastPathComponent as NSString).lastPathComponent + "/run"
        #expect(FileManager.default.fileExists(atPath: run + "/stages/" + sneaky + "/run.json"))
        ledger.stages[sneaky] = StageRecord(status: .completed)
        ledger.stages["ok"] = StageRecord(status: .completed)
        try ledger.write(runDirectory: run)
        let status = try PipelineStatus.load(path: run)
        #expect(status.source == .ledger)
        let row = try #require(status.stages.first { $0.name == sneaky })
        #expect(row.latestCheckpoint == nil)
        #expect(row.problems.first?.contains("not a plain name") == true, "\(row.problems)")
        #expect(status.stages.first { $0.name == "ok" }?.problems.isEmpty == true)
        #expect(status.complete)
    }
}
