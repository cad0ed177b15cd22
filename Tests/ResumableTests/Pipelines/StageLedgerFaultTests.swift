#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Resumable
import Testing

/// A ledger write that fails at any of its system calls leaves the previous
/// ledger whole and no temporary file beside it.
@Suite("Pipelines: a failing ledger write", .serialized)
struct StageLedgerFaultTests {
    static let points: [FaultPoint] = [.open, .write, .fsync, .rename]

    @Test("each failing call of the write keeps the old ledger", arguments: points)
    func failingWrite(_ point: FaultPoint) throws {
        let dir = TestSupport.temporaryDirectory("ledger-fault")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var old = StageLedger(createdAt: "2026-01-01T00:00:00Z")
        old.stages["a"] = StageRecord(status: .completed)
        try old.write(runDirectory: dir)
        var new = old
        new.stages["a"]?.status = .failed
        let scope = FaultScope(FaultInjection.Fault(point: point, nth: 1, errno: ENOSPC))
        #expect(throws: ResumableError.self) { try scope.run { try new.write(runDirectory: dir) } }
        #expect(scope.triggered)
        #expect(try StageLedger.read(runDirectory: dir) == old)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["stages.json"])
        try new.write(runDirectory: dir)
        #expect(try StageLedger.read(runDirectory: dir) == new)
    }
}
