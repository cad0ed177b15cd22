#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Resumable
import Testing

/// Issue 10, items 6 and 7: FIFOs planted where a run's files belong never
/// block a command, and a journal line cut short (a full disk, a crash) costs
/// exactly that line, never the next event.
@Suite("Attack: FIFOs and torn journal lines")
struct AttackFIFOAndJournalTests {
    static func makeFIFO(_ path: String) throws {
        try? FileManager.default.removeItem(atPath: path)
        guard mkfifo(path, 0o644) == 0 else { throw ResumableError(.io, "mkfifo \(path) failed") }
    }

    @Test("a FIFO in place of events.jsonl: commit and edit exit 65 at once instead of hanging with the lock held")
    func journalFIFO() throws {
        let run = try CLIFixture.makeRun("attack-fifo")
        let source = try CLIFixture.sourceDirectory("attack-fifo-src")
        defer {
            try? FileManager.default.removeItem(atPath: FilePath.parent(of: run))
            try? FileManager.default.removeItem(atPath: source)
        }
        try Self.makeFIFO(run + "/events.jsonl")
        for arguments in [["commit", run, "--step", "400", source], ["edit", run + "@step-100", "--tag", "x"], ["status", run]] {
            let outcome = try TestSupport.run(TestSupport.resumable, arguments, deadline: 30)
            #expect(!outcome.timedOut, "\(arguments[0]) blocked on the FIFO")
            #expect(outcome.status == 65, "\(arguments[0]): \(outcome)")
            #expect(outcome.stderr.contains("events.jsonl") && outcome.stderr.contains("FIFO"), "\(outcome.stderr)")
        }
        #expect(RunLock.currentOwner(directory: run) == nil, "no command is left holding the lock")
    }

    @Test("a FIFO in place of .lock or run.json is refused without blocking", arguments: [".lock", "run.json"])
    func runFileFIFO(name: String) throws {
        let run = try CLIFixture.makeRun("attack-fifo")
        defer { try? FileManager.default.removeItem(atPath: FilePath.parent(of: run)) }
        try Self.makeFIFO(run + "/" + name)
        for arguments in [["edit", run + "@step-100", "--tag", "x"], ["ls", run]] {
            let outcome = try TestSupport.run(TestSupport.resumable, arguments, deadline: 30)
            #expect(!outcome.timedOut, "\(arguments[0]) blocked on the FIFO")
            #expect(outcome.status == 65, "\(arguments[0]): \(outcome)")
            #expect(outcome.stderr.contains(name), "\(outcome.stderr)")
        }
    }

    @Test("a FIFO in place of a checkpoint's state.json: inspect and verify finish and name it")
    func stateFIFO() throws {
        let run = try CLIFixture.makeRun("attack-fifo")
        defer { try? FileManager.default.removeItem(atPath: FilePath.parent(of: run)) }
        try Self.makeFIFO(CLIFixture.checkpoint(run, 300) + "/state.json")
        let inspect = try TestSupport.resumable("inspect", run + "@step-300", deadline: 30)
        #expect(!inspect.timedOut, "inspect blocked on the FIFO")
        #expect(!inspect.signaled, "\(inspect)")
        #expect((inspect.stdout + inspect.stderr).contains("state.json"), "\(inspect)")
        let verify = try TestSupport.resumable("verify", run + "@step-300", deadline: 30)
        #expect(!verify.timedOut)
        #expect(verify.status == 65, "\(verify)")
    }

    @Test("an event appended after a torn line is read back, and the torn line alone is skipped")
    func tornLine() throws {
        let run = try CLIFixture.makeRun("attack-journal")
        defer { try? FileManager.default.removeItem(atPath: FilePath.parent(of: run)) }
        let journal = EventJournal(runDirectory: run)
        let before = try journal.read().count
        // What a full disk leaves: the start of a line, no newline.
        let handle = try #require(FileHandle(forWritingAtPath: journal.path))
        handle.seekToEndOfFile()
        handle.write(Data(#"{"event":"save","step":5"#.utf8))
        try handle.close()
        try journal.append(JournalEvent.Store.save, ["step": .int(400)])
        let events = try journal.read()
        #expect(events.count == before + 1, "the torn line is skipped and nothing else")
        #expect(events.last?["step"]?.intValue == 400)

        // The same through the built binary: a commit after a torn line is counted by status.
        let handle2 = try #require(FileHandle(forWritingAtPath: journal.path))
        handle2.seekToEndOfFile()
        handle2.write(Data(#"{"event":"sa"#.utf8))
        try handle2.close()
        let source = try CLIFixture.sourceDirectory("attack-journal-src")
        defer { try? FileManager.default.removeItem(atPath: source) }
        let commit = try TestSupport.resumable("commit", run, "--step", "500", source)
        #expect(commit.status == 0, "\(commit)")
        let steps = try journal.read().filter { $0["event"]?.stringValue == "save" }.compactMap { $0["step"]?.intValue }
        #expect(steps.suffix(2) == [400, 500])
    }
}
