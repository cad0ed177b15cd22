#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Resumable
import Testing

@Suite("resumable pipeline reset")
struct CLIPipelineResetTests {
    static func completed() throws -> (PipelineFixture, StageLedger) {
        let f = try PipelineFixture()
        var ledger = StageLedger()
        try f.completeAll(&ledger)
        try ledger.write(runDirectory: f.run)
        return (f, ledger)
    }

    static func bytes(_ path: String) -> Data? { FileManager.default.contents(atPath: path) }

    @Test("resets the stage and everything downstream, keeps the rest, the stage directories and checkpoints")
    func downstream() throws {
        let (f, ledger) = try Self.completed()
        defer { f.remove() }
        let store = try CheckpointStore(directory: f.run + "/stages/diff_residual", access: .write, create: true)
        try store.commit(step: 10) { try $0.writeJSON(named: "state.json", ["x": 1]) }
        store.close()
        let outcome = try TestSupport.resumable("pipeline", "reset", f.file, "diff_residual")
        #expect(outcome.status == 0, "\(outcome)")
        #expect(outcome.stdout == "reset: diff_residual, evaluate\n")
        let after = try #require(try StageLedger.read(runDirectory: f.run))
        #expect(after.record("operator") == ledger.record("operator"))
        #expect(after.record("steady_prior") == ledger.record("steady_prior"))
        #expect(after.record("diff_residual").status == .notStarted && after.record("evaluate").status == .notStarted)
        #expect(after.pipeline == PipelineOutline(try f.spec()))
        #expect(FileManager.default.fileExists(atPath: f.run + "/stages/diff_residual/model.pt"))
        #expect(FileManager.default.fileExists(atPath: CLIFixture.checkpoint(f.run + "/stages/diff_residual", 10)))
        // The lock was released (emptied), and no temporary is left.
        #expect(RunLock.currentOwner(directory: f.run) == nil)
        #expect(try FileManager.default.contentsOfDirectory(atPath: f.run).filter { $0.hasPrefix("stages.json") } == ["stages.json"])

        let status = try TestSupport.resumable("pipeline", "status", f.file)
        #expect(status.stdout.contains("not complete: next to run: diff_residual (not started), evaluate (not started)"), "\(status.stdout)")

        let again = try TestSupport.resumable("pipeline", "reset", f.file, "evaluate")
        #expect(again.status == 0 && again.stdout == "nothing to reset\n", "\(again)")
        let (all, json) = try CLIFixture.json("pipeline", "reset", f.file, "--json")
        #expect(all.status == 0, "\(all)")
        #expect(json == ["reset": ["operator", "steady_prior"]])
        let (_, none) = try CLIFixture.json("pipeline", "reset", f.file, "--json")
        #expect(none == ["reset": []])
    }

    @Test("an unknown stage: 64 listing the stages, the ledger unchanged")
    func unknownStage() throws {
        let (f, _) = try Self.completed()
        defer { f.remove() }
        let before = Self.bytes(f.run + "/stages.json")
        let outcome = try TestSupport.resumable("pipeline", "reset", f.file, "operator", "nope")
        #expect(outcome.status == 64, "\(outcome)")
        #expect(outcome.stderr.contains("nope is not a stage of pipeline demo; the stages are operator, diff_residual, steady_prior, evaluate"), "\(outcome.stderr)")
        #expect(Self.bytes(f.run + "/stages.json") == before)
    }

    @Test("a live pipeline run holding the lock: 75 naming its pid and host, the ledger unchanged")
    func locked() throws {
        let (f, _) = try Self.completed()
        defer { f.remove() }
        let before = Self.bytes(f.run + "/stages.json")
        // flock belongs to the open file: this process holding it is another holder for the child.
        let lock = try RunLock.acquire(directory: f.run)
        let outcome = try TestSupport.resumable("pipeline", "reset", f.file, "operator")
        #expect(outcome.status == 75, "\(outcome)")
        #expect(outcome.stderr.contains("pid \(getpid()) on \(RunLock.hostName())"), "\(outcome.stderr)")
        #expect(Self.bytes(f.run + "/stages.json") == before)
        lock.release()
        let free = try TestSupport.resumable("pipeline", "reset", f.file, "operator")
        #expect(free.status == 0 && free.stdout == "reset: operator, diff_residual, steady_prior, evaluate\n", "\(free)")
    }

    @Test("a ledger edited into invalid JSON: status and reset exit 65 naming it, the file unchanged")
    func invalidLedger() throws {
        let (f, _) = try Self.completed()
        defer { f.remove() }
        var text = try String(contentsOfFile: f.run + "/stages.json", encoding: .utf8)
        text = text.replacingOccurrences(of: "\"completed\"", with: "completed")
        try Data(text.utf8).write(to: URL(fileURLWithPath: f.run + "/stages.json"))
        let before = Self.bytes(f.run + "/stages.json")
        for arguments in [["pipeline", "reset", f.file], ["pipeline", "reset", f.file, "evaluate", "--json"], ["pipeline", "status", f.file]] {
            let outcome = try TestSupport.run(TestSupport.resumable, arguments)
            #expect(outcome.status == 65, "\(arguments): \(outcome)")
            #expect(outcome.stderr.contains(f.run + "/stages.json"), "\(outcome.stderr)")
        }
        #expect(Self.bytes(f.run + "/stages.json") == before)
    }

    @Test("never run: nothing to reset, nothing created; FILE a directory 64, missing 66")
    func neverRun() throws {
        let f = try PipelineFixture()
        defer { f.remove() }
        let outcome = try TestSupport.resumable("pipeline", "reset", f.file)
        #expect(outcome.status == 0 && outcome.stdout == "nothing to reset\n", "\(outcome)")
        #expect(!FileManager.default.fileExists(atPath: f.run))
        #expect(try TestSupport.resumable("pipeline", "reset", f.directory).status == 64)
        #expect(try TestSupport.resumable("pipeline", "reset", f.directory + "/none.yaml").status == 66)
        #expect(try TestSupport.resumable("pipeline", "reset").status == 64)
    }

    @Test("a ledger write that fails (fault-injected rename, full disk on write): the old ledger whole, no temporary left")
    func failingWrite() throws {
        let (f, _) = try Self.completed()
        defer { f.remove() }
        let before = Self.bytes(f.run + "/stages.json")
        for fault in ["rename:1:EIO", "write:1:short"] {
            let outcome = try TestSupport.resumable("pipeline", "reset", f.file, "evaluate", environment: ["RESUMABLE_FAULT": fault])
            #expect(outcome.status == 74, "\(fault): \(outcome)")
            #expect(Self.bytes(f.run + "/stages.json") == before)
            #expect(try FileManager.default.contentsOfDirectory(atPath: f.run).filter { $0.hasPrefix("stages.json") } == ["stages.json"])
        }
        let ok = try TestSupport.resumable("pipeline", "reset", f.file, "evaluate")
        #expect(ok.status == 0 && ok.stdout == "reset: evaluate\n", "\(ok)")
    }
}
