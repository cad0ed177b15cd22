import Foundation
import Resumable
import Testing

@Suite("CheckpointComparison")
struct CheckpointComparisonTests {
    @Test("identical checkpoints compare equal with no metadata difference")
    func identical() throws {
        let run = try CLIFixture.makeRun("cmp-same", steps: [1])
        let c = try CheckpointStore(directory: run).checkpoint(step: 1)
        let result = try CheckpointComparison.compare(c, c)
        #expect(result.tensorsAreIdentical)
        #expect(result.tensors.map(\.status) == [.equal, .equal])
        #expect(result.files.map(\.status) == [.equal])
        #expect(result.metadata.isEmpty)
    }

    @Test("different values: max absolute difference, tolerance, metadata key paths")
    func different() throws {
        let run = try CLIFixture.makeRun("cmp-diff", steps: [100, 200])
        let store = try CheckpointStore(directory: run)
        let a = try store.checkpoint(step: 100)
        let b = try store.checkpoint(step: 200)
        let result = try CheckpointComparison.compare(a, b)
        #expect(!result.tensorsAreIdentical)
        let w = try #require(result.tensors.first { $0.name == "w" })
        #expect(w.status == .different)
        #expect(w.difference?.maxAbsoluteDifference == 5)
        #expect(result.metadata.map(\.key) == ["epoch", "metrics.loss", "state.json:step"])
        #expect(try CheckpointComparison.compare(a, b, tolerance: 5).tensorsAreIdentical)
        #expect(try !CheckpointComparison.compare(a, b, tolerance: 4.9).tensorsAreIdentical)
    }
}
