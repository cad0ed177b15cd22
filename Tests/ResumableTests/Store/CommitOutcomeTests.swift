#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Resumable
import Testing

/// Issue 11, item 3: a commit's outcome is exact. A throw means no checkpoint
/// at the step; once the checkpoint is visible, what fails after it (the
/// fsync of `checkpoints/`, retention) is a warning of a committed checkpoint.
@Suite("Store: what a commit reports")
struct CommitOutcomeTests {
    @Test("a failing fsync of checkpoints/ after the rename is a warning of a committed checkpoint, not a failed save")
    func parentFsync() throws {
        let run = TestSupport.temporaryDirectory("commit-outcome") + "/run"
        defer { try? FileManager.default.removeItem(atPath: FilePath.parent(of: run)) }
        let store = try CheckpointStore(directory: run, access: .write, create: true)
        try store.commit(step: 1) { try $0.writeState(["a": 1]) }
        // Count the fsyncs of a commit; the last is the one of checkpoints/.
        let counting = FaultScope(FaultInjection.Fault(point: .fsync, nth: 1_000_000, errno: EIO))
        try counting.run { _ = try store.commit(step: 2) { try $0.writeState(["a": 2]) } }
        let fsyncs = counting.count(of: .fsync)
        let scope = FaultScope(FaultInjection.Fault(point: .fsync, nth: fsyncs, errno: EIO))
        let result = try scope.run { try store.commit(step: 3) { try $0.writeState(["a": 3]) } }
        #expect(scope.triggered)
        #expect(result.checkpoint.step == 3)
        #expect(result.warnings.count == 1)
        #expect(result.warnings.first?.contains("may not survive a power loss") == true, "\(result.warnings)")
        #expect(try store.committedSteps() == [1, 2, 3])
        #expect(try store.verify(try store.checkpoint(step: 3)).isIntact)
    }

    @Test("retention that fails never fails the save: the commit returns with a warning and the old checkpoints stay")
    func retentionFailure() throws {
        let run = TestSupport.temporaryDirectory("commit-outcome") + "/run"
        defer { try? FileManager.default.removeItem(atPath: FilePath.parent(of: run)) }
        let store = try CheckpointStore(directory: run, access: .write, create: true)
        for step in Int64(1)...3 { try store.commit(step: step) { try $0.writeState(["a": step]) } }
        store.retention = RetentionPolicy(keepLast: 1)
        let scope = FaultScope(FaultInjection.Fault(point: .rename, nth: 2, errno: EIO))
        let result = try scope.run { try store.commit(step: 4) { try $0.writeState(["a": 4]) } }
        #expect(scope.triggered, "the first rename commits, the second is retention's")
        #expect(result.checkpoint.step == 4)
        #expect(result.warnings.contains { $0.contains("retention") }, "\(result.warnings)")
        #expect(try store.committedSteps().contains(4))
        #expect(try store.committedSteps().contains(3), "what retention could not delete is kept")
    }

    @Test("resumable commit exits 0 with the warning when retention fails after the commit (it used to exit 74 with the checkpoint committed)")
    func cliRetentionFailure() throws {
        let run = try CLIFixture.makeRun("commit-outcome-cli")
        let source = try CLIFixture.sourceDirectory("commit-outcome-src")
        defer {
            try? FileManager.default.removeItem(atPath: FilePath.parent(of: run))
            try? FileManager.default.removeItem(atPath: source)
        }
        // The commit itself unlinks nothing; the first unlink is retention's.
        let (outcome, json) = try CLIFixture.json(
            "commit", run, "--step", "400", "--keep-last", "1", source, "--json", environment: ["RESUMABLE_FAULT": "unlink:1:EIO"])
        #expect(outcome.status == 0, "\(outcome)")
        #expect(json["step"]?.intValue == 400)
        #expect(json["warnings"]?.arrayValue?.count == 1, "\(outcome.stdout)")
        #expect(outcome.stderr.contains("retention could not delete"), "\(outcome.stderr)")
        #expect(try CheckpointStore(directory: run).committedSteps().contains(400))
    }
}
