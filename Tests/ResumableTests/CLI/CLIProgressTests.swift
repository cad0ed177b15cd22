import Foundation
import Resumable
import Testing

@Suite("resumable progress")
struct CLIProgressTests {
    @Test("writes RUN/progress.json atomically with epoch, of, step, counters and pid")
    func writes() throws {
        let run = TestSupport.temporaryDirectory("progress-write") + "/run"
        let outcome = try TestSupport.resumable(
            "progress", "--epoch", "3", "--of", "8", "--step", "1200", "--set", "loss=0.25", "--set", "samples=4096", "--run-dir", run)
        #expect(outcome.status == 0, "\(outcome)")
        let json = try TestSupport.json(String(decoding: try Data(contentsOf: URL(fileURLWithPath: run + "/progress.json")), as: UTF8.self))
        #expect(json["epoch"]?.intValue == 3)
        #expect(json["of"]?.intValue == 8)
        #expect(json["step"]?.intValue == 1200)
        #expect(json["counters"]?["loss"]?.doubleValue == 0.25)
        #expect(json["counters"]?["samples"]?.doubleValue == 4096)
        #expect((json["pid"]?.intValue ?? 0) > 0)
        #expect(json["updated_at"]?.stringValue != nil)
        // No temporary file is left beside it.
        #expect(try FileManager.default.contentsOfDirectory(atPath: run) == ["progress.json"])
    }

    @Test("the run directory comes from RESUMABLE_RUN_DIR; without either, exit 64 naming both")
    func runDirectory() throws {
        let run = TestSupport.temporaryDirectory("progress-env") + "/run"
        let ok = try TestSupport.resumable("progress", "--epoch", "1", "--of", "2", environment: ["RESUMABLE_RUN_DIR": run])
        #expect(ok.status == 0, "\(ok)")
        #expect(FileManager.default.fileExists(atPath: run + "/progress.json"))
        let missing = try TestSupport.resumable("progress", "--epoch", "1", "--of", "2", environment: ["RESUMABLE_RUN_DIR": ""])
        #expect(missing.status == 64, "\(missing)")
        #expect(missing.stderr.contains("--run-dir"))
        #expect(missing.stderr.contains("RESUMABLE_RUN_DIR"))
    }

    @Test("bad values are usage errors", arguments: [
        ["--epoch", "-1", "--of", "2"], ["--epoch", "1", "--of", "0"], ["--epoch", "3", "--of", "2"],
        ["--epoch", "1", "--of", "2", "--step", "-5"], ["--epoch", "1", "--of", "2", "--set", "loss"],
        ["--epoch", "1", "--of", "2", "--set", "loss=abc"],
    ])
    func badValues(_ arguments: [String]) throws {
        let run = TestSupport.temporaryDirectory("progress-bad") + "/run"
        let outcome = try TestSupport.run(TestSupport.resumable, ["progress"] + arguments + ["--run-dir", run])
        #expect(outcome.status == 64, "\(outcome)")
        #expect(!FileManager.default.fileExists(atPath: run + "/progress.json"))
    }

    @Test("a symbolic link at progress.json is refused, never written through")
    func symlink() throws {
        let run = TestSupport.temporaryDirectory("progress-link") + "/run"
        try FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true)
        let target = TestSupport.temporaryDirectory("progress-link-target") + "/victim"
        try Data("keep".utf8).write(to: URL(fileURLWithPath: target))
        try FileManager.default.createSymbolicLink(atPath: run + "/progress.json", withDestinationPath: target)
        let outcome = try TestSupport.resumable("progress", "--epoch", "1", "--of", "2", "--run-dir", run)
        #expect(outcome.status == 65, "\(outcome)")
        #expect(try String(contentsOfFile: target, encoding: .utf8) == "keep")
    }

    @Test("works while another process holds the run's lock")
    func underLock() throws {
        let run = try CLIFixture.makeRun("progress-locked")
        let lock = try RunLock.acquire(directory: run)
        defer { lock.release() }
        let outcome = try TestSupport.resumable("progress", "--epoch", "2", "--of", "4", "--run-dir", run, deadline: 30)
        #expect(outcome.status == 0, "\(outcome)")
    }

    @Test("reports written while checkpoints commit leave both whole")
    func concurrentWithCommit() async throws {
        let run = TestSupport.temporaryDirectory("progress-commit") + "/run"
        let store = try CheckpointStore(directory: run, access: .write, create: true)
        let reporter = Task.detached { () throws -> [Int32] in
            try (1...8).map { epoch in
                try TestSupport.resumable("progress", "--epoch", String(epoch), "--of", "8", "--run-dir", run, deadline: 60).status
            }
        }
        for step in Int64(1)...6 {
            try store.commit(step: step) { draft in
                try draft.writeTensors([TensorSource(name: "w", dtype: .f32, shape: [256], values: [Float](repeating: Float(step), count: 256))])
            }
            guard case .report = RunProgress.read(from: run) else {
                if case .damaged(let reason) = RunProgress.read(from: run) { Issue.record("torn report: \(reason)") }
                continue
            }
        }
        #expect(try await reporter.value.allSatisfy { $0 == 0 })
        for checkpoint in try store.checkpoints() { #expect(try store.verify(checkpoint).isIntact) }
        store.close()
        guard case .report(let last) = RunProgress.read(from: run) else {
            Issue.record("no readable report")
            return
        }
        #expect(last.epoch == 8)
        #expect(try FileManager.default.contentsOfDirectory(atPath: run).filter { $0.hasPrefix("progress.json.tmp") }.isEmpty)
    }

    @Test("status shows a progress section: text and JSON")
    func status() throws {
        let run = try CLIFixture.makeRun("progress-status")
        #expect(try TestSupport.resumable("progress", "--epoch", "3", "--of", "8", "--step", "7", "--set", "loss=0.5", "--run-dir", run).status == 0)
        let text = try TestSupport.resumable("status", run)
        #expect(text.status == 0, "\(text)")
        #expect(text.stdout.contains("Progress"))
        #expect(text.stdout.contains("epoch 3 of 8 (37 %), updated "))
        let (outcome, json) = try CLIFixture.json("status", run, "--json")
        #expect(outcome.status == 0, "\(outcome)")
        #expect(json["progress"]?["epoch"]?.intValue == 3)
        #expect(json["progress"]?["of"]?.intValue == 8)
        #expect(json["progress"]?["step"]?.intValue == 7)
        #expect(json["progress"]?["counters"]?["loss"]?.doubleValue == 0.5)
    }

    @Test("a run without progress.json has no progress section")
    func noSection() throws {
        let run = try CLIFixture.makeRun("progress-none")
        let (outcome, json) = try CLIFixture.json("status", run, "--json")
        #expect(outcome.status == 0, "\(outcome)")
        #expect(json["progress"] == nil)
    }

    @Test("a damaged progress.json is shown as damaged with a warning", arguments: ["{bad", "[1, 2]", #"{"epoch": "x", "of": 2}"#, ""])
    func damaged(_ content: String) throws {
        let run = try CLIFixture.makeRun("progress-damaged")
        try Data(content.utf8).write(to: URL(fileURLWithPath: run + "/progress.json"))
        let (outcome, json) = try CLIFixture.json("status", run, "--json")
        #expect(outcome.status == 0, "\(outcome)")
        #expect(json["progress"]?["damaged"]?.stringValue?.contains("progress.json") == true)
        #expect(outcome.stderr.contains("warning"))
        let text = try TestSupport.resumable("status", run)
        #expect(text.status == 0, "\(text)")
        #expect(text.stdout.contains("damaged"))
    }
}
