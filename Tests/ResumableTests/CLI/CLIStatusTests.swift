import Foundation
import Resumable
import Testing

@Suite("resumable status")
struct CLIStatusTests {
    @Test("--json holds identity, checkpoints, latest and best, attempts and events")
    func json() throws {
        let run = try CLIFixture.makeRun("status-json")
        let journal = EventJournal(runDirectory: run)
        try journal.append(JournalEvent.Supervisor.start, ["attempt": 1])
        try journal.append(JournalEvent.Supervisor.fail, ["attempt": 1, "exit_code": 3])
        try journal.append(JournalEvent.Supervisor.start, ["attempt": 2])
        let (outcome, json) = try CLIFixture.json("status", run, "--json")
        #expect(outcome.status == 0, "\(outcome)")
        let store = try CheckpointStore(directory: run)
        #expect(json["run"]?.stringValue == run)
        #expect(json["identity"]?["id"]?.stringValue == store.run.id)
        #expect(json["identity"]?["monitor"]?["metric"]?.stringValue == "loss")
        #expect(json["checkpoints"]?["count"]?.intValue == 3)
        #expect((json["checkpoints"]?["total_bytes"]?.intValue ?? 0) > 0)
        #expect(json["checkpoints"]?["latest"]?["step"]?.intValue == 300)
        #expect(json["checkpoints"]?["best"]?["step"]?.intValue == 200)
        #expect(json["attempts"]?["starts"]?.intValue == 2)
        #expect(json["attempts"]?["last_failure"]?["exit_code"]?.intValue == 3)
        #expect(json["lock"] == .null)
        #expect(json["recent_events"]?.arrayValue?.last?["event"]?.stringValue == "start")
        #expect(json["trackers"] == .object([:]))
    }

    @Test("the text form shows every section")
    func text() throws {
        let run = try CLIFixture.makeRun("status-text")
        let outcome = try TestSupport.resumable("status", run, "--events", "2")
        #expect(outcome.status == 0, "\(outcome)")
        for title in ["Run", "Lock", "Checkpoints", "Trackers", "Attempts", "Recent events"] {
            #expect(outcome.stdout.contains("\n\(title)\n") || outcome.stdout.hasPrefix("\(title)\n"), "missing \(title)")
        }
        #expect(outcome.stdout.contains("latest:          step 300 · epoch 3"))
        #expect(outcome.stdout.contains("best loss (min): step 200"))
        let (_, limited) = try CLIFixture.json("status", run, "--json", "--events", "1")
        #expect(limited["recent_events"]?.arrayValue?.count == 1)
    }

    @Test("a live lock holder is shown with its pid")
    func liveLock() throws {
        let run = try CLIFixture.makeRun("status-lock")
        let lock = try RunLock.acquire(directory: run)
        defer { lock.release() }
        let (outcome, json) = try CLIFixture.json("status", run, "--json")
        #expect(outcome.status == 0, "\(outcome)")
        #expect(json["lock"]?["live"]?.boolValue == true)
        #expect(json["lock"]?["pid"]?.intValue == Int64(getpid()))
    }
}
