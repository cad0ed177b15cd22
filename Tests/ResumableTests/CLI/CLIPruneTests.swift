import Foundation
import Resumable
import Testing

@Suite("resumable prune")
struct CLIPruneTests {
    @Test("--dry-run reports and deletes nothing")
    func dryRun() throws {
        let run = try CLIFixture.makeRun("prune-dry", steps: [100, 200, 300, 400])
        let (outcome, json) = try CLIFixture.json("prune", run, "--keep-last", "1", "--dry-run", "--json")
        #expect(outcome.status == 0, "\(outcome)")
        #expect(json["dry_run"] == true)
        #expect(json["deleted"] == [100, 300])
        #expect((json["bytes_freed"]?.intValue ?? 0) > 0)
        let kept = json["kept"]?.arrayValue ?? []
        #expect(kept.map { $0["step"]?.intValue } == [200, 400])
        #expect(kept.last?["reasons"]?.arrayValue?.contains("latest") == true)
        #expect(kept.first?["reasons"]?.arrayValue?.contains("best loss") == true)
        #expect(FileManager.default.fileExists(atPath: CLIFixture.checkpoint(run, 100)))
    }

    @Test("prune deletes what no rule keeps; pinned checkpoints stay")
    func prune() throws {
        let run = try CLIFixture.makeRun("prune-real", steps: [100, 200, 300, 400, 500])
        let pin = try TestSupport.resumable("edit", run + "@step-100", "--tag", "pinned")
        #expect(pin.status == 0, "\(pin)")
        let outcome = try TestSupport.resumable("prune", run, "--keep-last", "2", "--keep-every", "1000")
        #expect(outcome.status == 0, "\(outcome)")
        #expect(outcome.stdout.contains("deleted step 300"))
        #expect(outcome.stdout.contains("Deleted 1 checkpoint, freed"))
        let (_, listing) = try CLIFixture.json("ls", run, "--json")
        #expect(listing["checkpoints"]?.arrayValue?.map { $0["step"]?.intValue } == [100, 200, 400, 500])
    }

    @Test("usage errors exit 64: no rule, --keep-best without a metric")
    func usage() throws {
        let run = try CLIFixture.makeRun("prune-usage", monitor: false)
        let none = try TestSupport.resumable("prune", run)
        #expect(none.status == 64, "\(none)")
        let best = try TestSupport.resumable("prune", run, "--keep-best", "1")
        #expect(best.status == 64, "\(best)")
        #expect(best.stderr.contains("--monitor"))
        let withMetric = try TestSupport.resumable("prune", run, "--keep-best", "1", "--monitor", "loss", "--mode", "min", "--json")
        #expect(withMetric.status == 0, "\(withMetric)")
        #expect(try TestSupport.json(withMetric.stdout)["deleted"] == [100])
    }

    @Test("a run whose lock a live process holds exits 75")
    func locked() throws {
        let run = try CLIFixture.makeRun("prune-locked")
        let lock = try RunLock.acquire(directory: run)
        defer { lock.release() }
        let outcome = try TestSupport.resumable("prune", run, "--keep-last", "1")
        #expect(outcome.status == 75, "\(outcome)")
        #expect(outcome.stderr.contains("pid \(getpid())"))
        #expect(outcome.stderr.contains("hint: `resumable status RUN`"))
    }
}
