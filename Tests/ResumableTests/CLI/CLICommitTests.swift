import Foundation
import Resumable
import Testing

@Suite("resumable commit")
struct CLICommitTests {
    @Test("commits a directory into a new run, copying it, and prints the checkpoint")
    func commitCopy() throws {
        let source = try CLIFixture.sourceDirectory()
        let run = TestSupport.temporaryDirectory("commit-new") + "/run"
        let (outcome, json) = try CLIFixture.json(
            "commit", run, "--step", "10", "--epoch", "2", "--metric", "loss=0.25", "--metric", "acc=0.9", "--tag", "nightly",
            "--metadata", "host=gpu7", "--metadata", "retries=3", source, "--json")
        #expect(outcome.status == 0, "\(outcome)")
        #expect(json["step"]?.intValue == 10)
        #expect(json["path"]?.stringValue == CLIFixture.checkpoint(run, 10))
        #expect(json["files"]?.arrayValue?.compactMap { $0["name"]?.stringValue } == ["model.safetensors", "state.json"])
        #expect(json["pruned"] == [])
        #expect(FileManager.default.fileExists(atPath: source + "/model.safetensors"), "the source stays as it was")
        let checkpoint = try CheckpointStore(directory: run).checkpoint(step: 10)
        #expect(checkpoint.manifest.epoch == 2)
        #expect(checkpoint.manifest.metrics == ["loss": 0.25, "acc": 0.9])
        #expect(checkpoint.manifest.tags == ["nightly"])
        #expect(checkpoint.manifest.metadata == ["host": "gpu7", "retries": 3])
        #expect(try checkpoint.tensors().array("weight", as: Float.self) == [1, 2, 3, 4])
        let verify = try TestSupport.resumable("verify", run)
        #expect(verify.status == 0, "\(verify)")
        let text = try TestSupport.resumable("commit", run, "--step", "20", source)
        #expect(text.status == 0, "\(text)")
        #expect(text.stdout == CLIFixture.checkpoint(run, 20) + "\n")
    }

    @Test("a file of several I/O blocks commits byte-identical with direct I/O and through the page cache (RESUMABLE_DIRECT_IO=0)")
    func directAndBufferedWrites() throws {
        let source = TestSupport.temporaryDirectory("commit-large") + "/src"
        try FileSystem.createDirectory(source)
        // Three and a half blocks of the writer, and an odd tail.
        let count = (ChecksummingWriter.blockSize * 7 / 2 + 1234) / 4
        let values = (0..<count).map { Float($0 % 9973) * 0.5 }
        let file = source + "/model.safetensors"
        try SafeTensorsWriter.write([TensorSource(name: "w", dtype: .f32, shape: [count], values: values)], to: file)
        let expected = try Checksum.sha256(ofFile: file)
        let run = TestSupport.temporaryDirectory("commit-large") + "/run"
        for (step, env) in [(1, [String: String]()), (2, ["RESUMABLE_DIRECT_IO": "0"])] {
            let outcome = try TestSupport.resumable("commit", run, "--step", String(step), source, environment: env)
            #expect(outcome.status == 0, "\(outcome)")
            let checkpoint = try CheckpointStore(directory: run).checkpoint(step: Int64(step))
            #expect(checkpoint.manifest.files.first { $0.name == "model.safetensors" }?.sha256 == expected, "step \(step)")
            #expect(try Checksum.sha256(ofFile: checkpoint.path(of: "model.safetensors")) == expected, "step \(step)")
            #expect(try checkpoint.tensors().array("w", as: Float.self) == values, "step \(step)")
        }
        let verify = try TestSupport.resumable("verify", run + "@step-1")
        #expect(verify.status == 0, "\(verify)")
    }

    @Test("--move renames the files in; retention prunes after the commit")
    func moveAndRetention() throws {
        let run = TestSupport.temporaryDirectory("commit-move") + "/run"
        for step in 1...3 {
            let source = try CLIFixture.sourceDirectory("move", scale: Float(step))
            let outcome = try TestSupport.resumable(
                "commit", run, "--step", String(step), "--metric", "loss=\(4 - step)", "--move", "--keep-last", "1", "--monitor", "loss",
                "--mode", "min", source, "--json")
            #expect(outcome.status == 0, "\(outcome)")
            #expect(!FileManager.default.fileExists(atPath: source + "/model.safetensors"), "moved, not copied")
            #expect(try TestSupport.json(outcome.stdout)["pruned"] == (step == 1 ? [] : [.int(Int64(step - 1))]))
        }
        let store = try CheckpointStore(directory: run)
        #expect(try store.committedSteps() == [3])
        #expect(store.run.monitor == Monitor(metric: "loss", mode: .min))
    }

    @Test("a held lock refuses the commit (75) unless the child presents RESUMABLE_LOCK_TOKEN")
    func supervisedChild() throws {
        let run = try CLIFixture.makeRun("commit-lock", steps: [1])
        let source = try CLIFixture.sourceDirectory()
        let lock = try RunLock.acquire(directory: run)
        defer { lock.release() }
        let refused = try TestSupport.resumable("commit", run, "--step", "2", source)
        #expect(refused.status == 75, "\(refused)")
        let borrowed = try TestSupport.resumable("commit", run, "--step", "2", source, environment: ["RESUMABLE_LOCK_TOKEN": lock.token])
        #expect(borrowed.status == 0, "\(borrowed)")
        let wrong = try TestSupport.resumable("commit", run, "--step", "3", source, environment: ["RESUMABLE_LOCK_TOKEN": "nope"])
        #expect(wrong.status == 75, "\(wrong)")
    }

    @Test("an existing step exits 1; bad values and a missing directory are reported")
    func errors() throws {
        let run = try CLIFixture.makeRun("commit-errors", steps: [5])
        let source = try CLIFixture.sourceDirectory()
        let conflict = try TestSupport.resumable("commit", run, "--step", "5", source)
        #expect(conflict.status == 1, "\(conflict)")
        #expect(conflict.stderr.contains("already has a checkpoint at step 5"))
        let metric = try TestSupport.resumable("commit", run, "--step", "6", "--metric", "loss=high", source)
        #expect(metric.status == 64, "\(metric)")
        let noStep = try TestSupport.resumable("commit", run, source)
        #expect(noStep.status == 64, "\(noStep)")
        let missing = try TestSupport.resumable("commit", run, "--step", "6", source + "/nope")
        #expect(missing.status == 66, "\(missing)")
        let nested = try CLIFixture.sourceDirectory()
        try FileManager.default.createDirectory(atPath: nested + "/sub", withIntermediateDirectories: true)
        let sub = try TestSupport.resumable("commit", run, "--step", "6", nested)
        #expect(sub.status == 64, "\(sub)")
        #expect(try CheckpointStore(directory: run).committedSteps() == [5])
    }

    @Test("a lock left by a dead process is taken over with a notice on stderr")
    func takeOver() throws {
        let run = try CLIFixture.makeRun("commit-takeover", steps: [1])
        let dead = #"{"pid": 999999, "host": "elsewhere", "boot_id": "", "started_at": "2020-01-01T00:00:00Z", "token": "t", "command": "train"}"#
        try Data(dead.utf8).write(to: URL(fileURLWithPath: run + "/.lock"))
        let outcome = try TestSupport.resumable("commit", run, "--step", "2", try CLIFixture.sourceDirectory())
        #expect(outcome.status == 0, "\(outcome)")
        #expect(outcome.stderr.contains("Took over the lock"), "\(outcome.stderr)")
        #expect(outcome.stderr.contains("pid 999999"))
    }

    @Test("a stop signal sent while it commits does not cut the commit short")
    func stopSignalDuringCommit() throws {
        let source = TestSupport.temporaryDirectory("commit-signal")
        // 256 MiB: the commit (copy, hash, fsync) takes a while, so the signals land during it.
        let big = [UInt8](repeating: 7, count: 256 << 20)
        #expect(FileManager.default.createFile(atPath: source + "/blob.bin", contents: Data(big)))
        let run = TestSupport.temporaryDirectory("commit-signal-run") + "/run"
        let process = try TestProcess(
            TestSupport.resumable, ["commit", run, "--step", "5", source], stdout: .discard, stderr: .discard)
        // Wait until the commit has begun writing (its staging directory exists)…
        var waited = 0
        while process.isRunning && !FileManager.default.fileExists(atPath: run + "/checkpoints/.staging") && waited < 3000 {
            usleep(1000)
            waited += 1
        }
        // …then signal repeatedly until it ends, as a supervisor forwarding to the group would.
        var sent = 0
        while process.isRunning && sent < 40 {
            usleep(20_000)
            process.signal([SIGTERM, SIGINT, SIGUSR1][sent % 3])
            sent += 1
        }
        let ended = process.wait()
        #expect(!ended.signaled && ended.status == 0, "\(ended)")
        #expect(sent > 0, "no signal landed during the commit")
        let checkpoint = try CheckpointStore(directory: run).checkpoint(step: 5)
        #expect(try CheckpointStore(directory: run).verify(checkpoint).isIntact)
    }
}
