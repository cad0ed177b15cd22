import Foundation
import Resumable
import Testing

@Suite("RunStatus")
struct RunStatusTests {
    /// A contributor that reports training progress, as the Training module will.
    struct ProgressContributor: RunStatusContributor {
        func section(for store: CheckpointStore, status: RunStatus) throws -> RunStatus.Section? {
            guard let latest = status.checkpoints.latest else { return nil }
            return RunStatus.Section(
                id: "progress", title: "Progress", rows: [RunStatus.Row("epoch", "\(latest.epoch) of 10")],
                json: ["epoch": .int(latest.epoch), "epochs": 10])
        }
    }

    @Test("counts checkpoints, finds latest and best, summarises attempts")
    func build() throws {
        let run = try CLIFixture.makeRun("status-lib")
        let journal = EventJournal(runDirectory: run)
        try journal.append(JournalEvent.Supervisor.start, ["attempt": 1, "resume_from": .null])
        try journal.append(JournalEvent.Training.start, ["config_fingerprint": "f"])
        try journal.append(JournalEvent.Supervisor.fail, ["attempt": 1, "exit_code": 2])
        try journal.append(JournalEvent.Supervisor.start, ["attempt": 2, "resume_from": .null])
        try journal.append(JournalEvent.Training.resume, ["step": 300])
        let store = try CheckpointStore(directory: run)
        let status = try RunStatus.build(from: store, recentEvents: 2, contributors: [SupervisorStatusContributor()])
        #expect(status.identity.id == store.run.id)
        #expect(status.checkpoints.count == 3)
        #expect(status.checkpoints.totalBytes == (try store.checkpoints()).reduce(0) { $0 + $1.bytes })
        #expect(status.checkpoints.latest?.step == 300)
        #expect(status.checkpoints.best?.step == 200)
        #expect(status.history.attempts.count == 2, "the training loop's start is part of attempt 1")
        #expect(status.history.supervisedAttempts == 2)
        #expect(status.history.resumes == 1)
        #expect(status.section("attempts")?.json["last_failure"]?["exit_code"]?.intValue == 2)
        #expect(status.recentEvents.count == 2)
        #expect(status.recentEvents.last?["event"]?.stringValue == "resume")
        #expect(status.recentEvents.last?["source"]?.stringValue == "training")
        #expect(status.lock == nil)
        #expect(status.sections.map(\.id) == ["identity", "lock", "checkpoints", "trackers", "attempts", "recent_events"], "the supervisor's section, then recent events last")
        let byMax = try RunStatus.build(from: store, monitor: Monitor(metric: "loss", mode: .max))
        // Steps 100 and 300 tie on the largest loss: the earliest is best (docs/FORMAT.md).
        #expect(byMax.checkpoints.best?.step == 100)
    }

    @Test("contributors add sections to the list and to the JSON")
    func contributors() throws {
        let run = try CLIFixture.makeRun("status-contrib", steps: [7])
        let status = try RunStatus.build(from: try CheckpointStore(directory: run), contributors: [ProgressContributor()])
        #expect(status.sections.dropLast().last?.id == "progress")
        #expect(status.section("progress")?.rows == [RunStatus.Row("epoch", "1 of 10")])
        #expect(status.json["progress"]?["epochs"]?.intValue == 10)
        #expect(status.json["checkpoints"]?["latest"]?["step"]?.intValue == 7)
        var replaced = status
        replaced.add(RunStatus.Section(id: "progress", title: "Progress", rows: [], json: .null))
        #expect(replaced.additionalSections.count == 1)
        #expect(replaced.json["progress"] == .null)
    }

    @Test("the lock: live while held, recorded but dead after a crash, none after a clean release")
    func lock() throws {
        let run = try CLIFixture.makeRun("status-lock-lib", steps: [1])
        let store = try CheckpointStore(directory: run)
        let held = try RunLock.acquire(directory: run)
        let live = try RunStatus.build(from: store).lock
        #expect(live?.isLive == true)
        #expect(live?.pid == getpid())
        held.release()
        #expect(try RunStatus.build(from: store).lock == nil)
        let dead = #"{"pid": 4242, "host": "node1", "boot_id": "", "started_at": "2020-01-01T00:00:00Z", "token": "t", "command": "train.py"}"#
        try Data(dead.utf8).write(to: URL(fileURLWithPath: run + "/.lock"))
        let recorded = try RunStatus.build(from: store).lock
        #expect(recorded?.isLive == false)
        #expect(recorded?.pid == 4242)
        #expect(recorded?.command == "train.py")
    }

    @Test("damaged step directories are counted apart")
    func damaged() throws {
        let run = try CLIFixture.makeRun("status-damaged", steps: [1, 2])
        try FileManager.default.createDirectory(atPath: CLIFixture.checkpoint(run, 3), withIntermediateDirectories: true)
        let status = try RunStatus.build(from: try CheckpointStore(directory: run))
        #expect(status.checkpoints.count == 2)
        #expect(status.checkpoints.damaged.map(\.step) == [3])
        #expect(status.checkpoints.latest?.step == 2)
    }
}
