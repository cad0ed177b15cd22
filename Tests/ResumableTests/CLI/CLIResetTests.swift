import Foundation
import Resumable
import Testing

@Suite("resumable reset")
struct CLIResetTests {
    /// The step directories left under `checkpoints/`, and what is left in `.trash/`.
    static func layout(_ run: String) throws -> (steps: [String], trash: [String]) {
        let names = try FileSystem.contents(of: run + "/checkpoints")
        let trash = (try? FileSystem.contents(of: run + "/checkpoints/.trash")) ?? []
        return (names.filter { $0.hasPrefix("step-") }.sorted(), trash)
    }

    static func names(_ steps: [Int64]) -> [String] { steps.map { Checkpoint.directoryName(step: $0) } }

    /// The journal's newest line.
    static func lastEvent(_ run: String) throws -> JournalEntry? {
        try EventJournal(runDirectory: run).entries().last
    }

    @Test("a full reset deletes every checkpoint, pinned ones too, and records the store's reset")
    func full() throws {
        let run = try CLIFixture.makeRun("reset-full")
        defer { AttackFixture.remove(parentOf: run) }
        let pin = try TestSupport.resumable("edit", run + "@step-100", "--tag", "pinned")
        #expect(pin.status == 0, "\(pin)")
        let outcome = try TestSupport.resumable("reset", run)
        #expect(outcome.status == 0, "\(outcome)")
        #expect(outcome.stdout.contains("deleted step 100 (pinned)"), "\(outcome.stdout)")
        #expect(outcome.stdout.contains("deleted step 300\n"))
        #expect(outcome.stdout.contains("Deleted 3 checkpoints, freed"))
        #expect(outcome.stdout.contains("the run has no checkpoint"))
        #expect(try Self.layout(run).steps == [])
        #expect(try Self.layout(run).trash == [])
        let event = try #require(try Self.lastEvent(run))
        #expect(event.matches(JournalEvent.Store.reset))
        #expect(event["steps"] == [100, 200, 300])
        #expect(event["to"] == .null)
        // The run is still a run: its identity is kept and it takes new checkpoints.
        let (ls, listing) = try CLIFixture.json("ls", run, "--json")
        #expect(ls.status == 0, "\(ls)")
        #expect(listing["checkpoints"] == [])
        #expect(FileManager.default.fileExists(atPath: run + "/run.json"))
        let again = try TestSupport.resumable("reset", run)
        #expect(again.status == 0, "\(again)")
        #expect(again.stdout.contains("Nothing to delete"), "\(again.stdout)")
    }

    @Test("--to STEP keeps STEP and the older checkpoints; --json's shape")
    func toStep() throws {
        let run = try CLIFixture.makeRun("reset-to", steps: [100, 200, 300, 400])
        defer { AttackFixture.remove(parentOf: run) }
        let store = try CheckpointStore(directory: run)
        let doomedBytes = try store.checkpoint(step: 300).bytes + store.checkpoint(step: 400).bytes
        let (outcome, json) = try CLIFixture.json("reset", run, "--to", "200", "--json")
        #expect(outcome.status == 0, "\(outcome)")
        #expect(Set(json.objectValue?.keys.map { $0 } ?? []) == ["deleted", "bytes_freed", "to"])
        #expect(json["deleted"] == [300, 400])
        #expect(json["to"]?.intValue == 200)
        #expect(json["bytes_freed"]?.intValue == doomedBytes)
        #expect(try Self.layout(run).steps == Self.names([100, 200]))
        let event = try #require(try Self.lastEvent(run))
        #expect(event.matches(JournalEvent.Store.reset))
        #expect(event["steps"] == [300, 400])
        #expect(event["to"]?.intValue == 200)
        let (latest, inspected) = try CLIFixture.json("inspect", run, "--json")
        #expect(latest.status == 0)
        #expect(inspected["step"]?.intValue == 200)

        let (nothing, empty) = try CLIFixture.json("reset", run, "--to", "200", "--json")
        #expect(nothing.status == 0, "\(nothing)")
        #expect(empty == ["deleted": [], "bytes_freed": 0, "to": 200])
        let (_, all) = try CLIFixture.json("reset", run, "--json")
        #expect(all == ["deleted": [100, 200], "bytes_freed": all["bytes_freed"] ?? 0, "to": .null])
        #expect((all["bytes_freed"]?.intValue ?? 0) > 0)
    }

    @Test("a missing --to step or run exits 66 and deletes nothing; a damaged --to step 65")
    func missing() throws {
        let run = try CLIFixture.makeRun("reset-missing")
        defer { AttackFixture.remove(parentOf: run) }
        let outcome = try TestSupport.resumable("reset", run, "--to", "250")
        #expect(outcome.status == 66, "\(outcome)")
        #expect(outcome.stderr.contains("step 250"), "\(outcome.stderr)")
        #expect(try Self.layout(run).steps == Self.names([100, 200, 300]))
        let noRun = try TestSupport.resumable("reset", FilePath.parent(of: run) + "/no-such-run")
        #expect(noRun.status == 66, "\(noRun)")
        let negative = try TestSupport.resumable("reset", run, "--to", "-1")
        #expect(negative.status == 64, "\(negative)")
        try Data("{".utf8).write(to: URL(fileURLWithPath: CLIFixture.checkpoint(run, 200) + "/manifest.json"))
        let damaged = try TestSupport.resumable("reset", run, "--to", "200")
        #expect(damaged.status == 65, "\(damaged)")
        #expect(try Self.layout(run).steps == Self.names([100, 200, 300]))
    }

    @Test("a run locked by a live process exits 75; its lock token lets reset write under it")
    func locked() throws {
        let run = try CLIFixture.makeRun("reset-locked")
        defer { AttackFixture.remove(parentOf: run) }
        let lock = try RunLock.acquire(directory: run)
        defer { lock.release() }
        let refused = try TestSupport.resumable("reset", run)
        #expect(refused.status == 75, "\(refused)")
        #expect(refused.stderr.contains("pid \(getpid())"), "\(refused.stderr)")
        #expect(try Self.layout(run).steps == Self.names([100, 200, 300]))
        let borrowed = try TestSupport.resumable("reset", run, "--to", "100", environment: ["RESUMABLE_LOCK_TOKEN": lock.token])
        #expect(borrowed.status == 0, "\(borrowed)")
        #expect(try Self.layout(run).steps == Self.names([100]))
    }

    @Test("a step directory that is a link is removed itself, its target untouched; linked run directories are refused")
    func links() throws {
        let (run, source, victim) = try AttackSymlinkTests.setUp("reset-link")
        defer { AttackSymlinkTests.cleanUp(run, source) }
        // A real checkpoint outside the run, reached through a link named like a newer step.
        let outside = FilePath.parent(of: run) + "/outside-step"
        try FileManager.default.copyItem(atPath: CLIFixture.checkpoint(run, 300), toPath: outside)
        try AttackSymlinkTests.plantLink(at: CLIFixture.checkpoint(run, 400), to: outside)
        try AttackSymlinkTests.plantLink(at: CLIFixture.checkpoint(run, 500), to: victim.directory)
        let (outcome, json) = try CLIFixture.json("reset", run, "--to", "200", "--json")
        #expect(outcome.status == 0, "\(outcome)")
        #expect(json["deleted"] == [300, 400, 500])
        #expect(try Self.layout(run).steps == Self.names([100, 200]))
        #expect(try Self.layout(run).trash == [])
        #expect(try FileSystem.contents(of: outside).sorted() == ["manifest.json", "model.safetensors", "state.json"])
        #expect(victim.isIntact())

        for name in [".trash", ".staging"] {
            try AttackSymlinkTests.plantLink(at: run + "/checkpoints/" + name, to: victim.directory)
            let refused = try TestSupport.resumable("reset", run, deadline: 60)
            #expect(refused.status == 65, "\(name): \(refused)")
            #expect(refused.stderr.contains(name) && refused.stderr.contains("symbolic link"), "\(refused.stderr)")
            #expect(victim.isIntact())
            #expect(try Self.layout(run).steps == Self.names([100, 200]))
            try FileManager.default.removeItem(atPath: run + "/checkpoints/" + name)
        }

        let moved = FilePath.parent(of: run) + "/moved-checkpoints"
        try FileManager.default.moveItem(atPath: run + "/checkpoints", toPath: moved)
        try AttackSymlinkTests.plantLink(at: run + "/checkpoints", to: moved)
        let linked = try TestSupport.resumable("reset", run, deadline: 60)
        #expect(linked.status == 65, "\(linked)")
        #expect(linked.stderr.contains("checkpoints"), "\(linked.stderr)")
        #expect(try FileSystem.contents(of: moved).filter { $0.hasPrefix("step-") }.sorted() == Self.names([100, 200]))
    }
}
