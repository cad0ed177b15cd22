import Foundation
import Resumable
import Testing

/// Strange things in a run's `checkpoints/` directory: names that look like
/// checkpoints but are not the canonical ones, files where directories belong.
@Suite("Hostile input: run layout")
struct HostileRunLayoutTests {
    @Test("a step directory with a non-canonical name is not a second checkpoint of that step")
    func nonCanonicalName() throws {
        let run = TestSupport.temporaryDirectory("hostile-layout") + "/run"
        defer { try? FileManager.default.removeItem(atPath: FilePath.parent(of: run)) }
        let store = try CheckpointStore(directory: run, access: .write, create: true)
        try store.commit(step: 4) { try $0.writeState(["a": 1]) }
        // A copy under a 13-digit name, and names that only start like one.
        for name in ["step-0000000000004", "step-000000000004.bak", "step-000000000004 ", "step-+00000000004"] {
            try FileManager.default.copyItem(atPath: store.directory(of: 4), toPath: store.checkpointsDirectory + "/" + name)
        }
        #expect(try store.committedSteps() == [4])
        let scan = try store.scan()
        #expect(scan.checkpoints.map(\.step) == [4])
        #expect(scan.damaged.isEmpty)
        #expect(Checkpoint.step(fromDirectoryName: "step-000000000004") == 4)
        #expect(Checkpoint.step(fromDirectoryName: "step-1000000000000") == 1_000_000_000_000)
        #expect(Checkpoint.step(fromDirectoryName: "step-0000000000004") == nil)
        #expect(Checkpoint.step(fromDirectoryName: "step-99999999999999999999") == nil)
    }

    @Test("a file named like a checkpoint is listed as damaged, and latest falls back past it")
    func fileNamedLikeACheckpoint() throws {
        let run = TestSupport.temporaryDirectory("hostile-layout") + "/run"
        defer { try? FileManager.default.removeItem(atPath: FilePath.parent(of: run)) }
        let store = try CheckpointStore(directory: run, access: .write, create: true)
        try store.commit(step: 4) { try $0.writeState(["a": 1]) }
        try FileSystem.writeAtomically(Array("x".utf8), to: store.directory(of: 9))
        #expect(try store.scan().damaged.map(\.step) == [9])
        let resolution = try #require(try store.latest(verify: true))
        #expect(resolution.checkpoint.step == 4)
        #expect(resolution.skipped.map(\.step) == [9])
    }
}
