import Foundation
import Resumable
import Testing

/// Issue 10, item 5: sizes read from manifests never trap when added; a
/// checkpoint whose sizes overflow is listed as corrupt and can be pruned.
@Suite("Attack: overflowing sizes")
struct AttackOverflowTests {
    /// Runs the binary and checks it ended normally (no SIGILL/SIGSEGV).
    func survive(_ arguments: String...) throws -> TestSupport.Outcome {
        let outcome = try TestSupport.run(TestSupport.resumable, arguments)
        #expect(!outcome.signaled && outcome.status != 132 && outcome.status != 139, "\(arguments): \(outcome)")
        return outcome
    }

    @Test("a file of 2^63-1 bytes beside another: ls, inspect, status, prune work; it is listed corrupt and pruned")
    func int64MaxFile() throws {
        let (run, cleanup) = try AttackFixture.run("attack-int64max")
        defer { cleanup() }
        try AttackFixture.setFileBytes(run, 200, [Int64.max])
        let listed = try survive("ls", run)
        #expect(listed.stdout.contains("corrupt"), "\(listed)")
        let (lsOutcome, ls) = try CLIFixture.json("ls", run, "--json")
        #expect(!lsOutcome.signaled, "\(lsOutcome)")
        let entry = ls["checkpoints"]?.arrayValue?.first { $0["step"]?.intValue == 200 }
        #expect(entry?["state"]?.stringValue == "corrupt", "\(ls.serialized())")
        let inspected = try survive("inspect", run + "@step-200")
        #expect(inspected.status == 65, "\(inspected)")
        #expect(inspected.stderr.contains("add up to more than"), "\(inspected)")
        let status = try survive("status", run)
        #expect(status.status == 0, "\(status)")
        let dry = try survive("prune", run, "--keep-last", "1", "--dry-run")
        #expect(dry.status == 0, "\(dry)")
        #expect(FileManager.default.fileExists(atPath: CLIFixture.checkpoint(run, 200)))
        let pruned = try survive("prune", run, "--keep-last", "1")
        #expect(pruned.status == 0, "\(pruned)")
        #expect(!FileManager.default.fileExists(atPath: CLIFixture.checkpoint(run, 200)), "the damaged checkpoint is pruned")
        #expect(FileManager.default.fileExists(atPath: CLIFixture.checkpoint(run, 300)))
    }

    @Test("two checkpoints of 2^62 bytes each: status and prune (also --dry-run) do not trap on the totals")
    func twoHugeCheckpoints() throws {
        // No monitor, so no best is kept: keep-last 1 deletes both large checkpoints.
        let (run, cleanup) = try AttackFixture.run("attack-2pow62", monitor: false)
        defer { cleanup() }
        try AttackFixture.setFileBytes(run, 100, [1 << 62])
        try AttackFixture.setFileBytes(run, 200, [1 << 62])
        let status = try survive("status", run)
        #expect(status.status == 0, "\(status)")
        let (statusOutcome, statusJSON) = try CLIFixture.json("status", run, "--json")
        #expect(statusOutcome.status == 0, "\(statusOutcome)")
        #expect(statusJSON.serialized().contains(String(Int64.max)), "the total saturates: \(statusJSON.serialized())")
        _ = try survive("ls", run)
        let (dryOutcome, dry) = try CLIFixture.json("prune", run, "--keep-last", "1", "--dry-run", "--json")
        #expect(dryOutcome.status == 0, "\(dryOutcome)")
        #expect(dry["bytes_freed"]?.intValue == Int64.max, "\(dry.serialized())")
        let pruned = try survive("prune", run, "--keep-last", "1")
        #expect(pruned.status == 0, "\(pruned)")
        #expect(!FileManager.default.fileExists(atPath: CLIFixture.checkpoint(run, 100)))
        #expect(!FileManager.default.fileExists(atPath: CLIFixture.checkpoint(run, 200)))
    }

    @Test("prune deletes a step directory with a damaged or missing manifest, keeps one of a newer version")
    func pruneDamaged() throws {
        let (run, cleanup) = try AttackFixture.run("attack-prune-damaged", steps: [100, 200, 300, 400])
        defer { cleanup() }
        try Data("{not json".utf8).write(to: URL(fileURLWithPath: AttackFixture.manifestPath(run, 100)))
        try FileManager.default.removeItem(atPath: AttackFixture.manifestPath(run, 200))
        try AttackFixture.rewriteManifest(run, 300) { $0["version"] = 2 }
        let (outcome, report) = try CLIFixture.json("prune", run, "--keep-last", "1", "--json")
        #expect(outcome.status == 0, "\(outcome)")
        #expect(report["deleted"] == [100, 200], "\(report.serialized())")
        #expect(!FileManager.default.fileExists(atPath: CLIFixture.checkpoint(run, 100)))
        #expect(!FileManager.default.fileExists(atPath: CLIFixture.checkpoint(run, 200)))
        #expect(FileManager.default.fileExists(atPath: CLIFixture.checkpoint(run, 300)), "a newer release's checkpoint is kept")
        #expect(FileManager.default.fileExists(atPath: CLIFixture.checkpoint(run, 400)))
    }

    @Test("Checkpoint.bytes saturates for a manifest built in memory; the reader refuses sizes that overflow")
    func sums() throws {
        let sha = String(repeating: "a", count: 64)
        let files = [FileRecord(name: "a", bytes: .max, sha256: sha), FileRecord(name: "b", bytes: .max, sha256: sha)]
        let manifest = Manifest(step: 1, epoch: 0, runID: "r", configFingerprint: "", files: files)
        #expect(Checkpoint(directory: "/x", manifest: manifest).bytes == .max)
        #expect(Checkpoint.total([.max, 1, -5]) == .max)
        #expect(Checkpoint.total([1, 2, -5]) == 3)
        let error = #expect(throws: ResumableError.self) { _ = try Manifest.decode(manifest.encoded, path: "m.json") }
        #expect(error?.code == .corrupt, "\(String(describing: error))")
    }
}

@Suite("Attack: overflowing training counts")
struct AttackTrainingCountTests {
    @Test("status survives a training summary whose completed_epochs is 2^63-1")
    func completedEpochsMax() throws {
        let (run, cleanup) = try AttackFixture.run("attack-epochs", steps: [100])
        defer { cleanup() }
        try AttackFixture.rewriteManifest(run, 100) { o in
            o["training"] = [
                "completed_epochs": .int(.max), "total_epochs": 3, "step": 100, "epoch_step": 1, "steps_per_epoch": 2,
            ]
        }
        let status = try TestSupport.resumable("status", run)
        #expect(!status.signaled && status.status == 0, "\(status)")
        #expect(status.stdout.contains("batches into epoch ?"), "\(status)")
    }
}
