#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Resumable
import Testing

@Suite("Pipelines: the stage ledger")
struct StageLedgerTests {
    @Test("a ledger round-trips through stages.json, every field")
    func roundTrip() throws {
        let f = try PipelineFixture()
        defer { f.remove() }
        try FileManager.default.createDirectory(atPath: f.run, withIntermediateDirectories: true)
        var ledger = StageLedger(createdAt: "2026-11-29T10:00:00Z")
        try f.complete("operator", in: &ledger)
        var failed = StageRecord()
        failed.markStarted(fingerprint: StageFingerprint(command: "c", env: "e", inputs: ["a": "h"], upstream: ["operator": "u"]))
        failed.progress = ["epoch": 3, "of": 8, "loss": 0.25]
        failed.markFailed(exitCode: 3, errorTail: (1...30).map { "line \($0)" })
        ledger.stages["diff_residual"] = failed
        var running = StageRecord()
        running.markStarted(fingerprint: StageFingerprint(command: "c", env: "e", inputs: [:], upstream: [:]))
        ledger.stages["evaluate"] = running
        try ledger.write(runDirectory: f.run)

        let read = try #require(try StageLedger.read(runDirectory: f.run))
        #expect(read == ledger)
        #expect(read.record("diff_residual").errorTail.count == StageRecord.maxErrorLines)
        #expect(read.record("diff_residual").errorTail.last == "line 30")
        #expect(read.record("diff_residual").exitCode == 3 && read.record("diff_residual").attempts == 1)
        #expect(read.record("operator").status == .completed)
        #expect(read.record("steady_prior").status == .notStarted)
        let json = try TestSupport.json(String(decoding: FileManager.default.contents(atPath: f.run + "/stages.json")!, as: UTF8.self))
        #expect(json["schema_version"] == 1)
        #expect(json["stages"]?["evaluate"]?["status"] == "in_progress")
        #expect(json["stages"]?["evaluate"]?["owner"]?["pid"]?.intValue == Int64(getpid()))
        #expect(json["stages"]?["operator"]?["outputs"]?.arrayValue?.first?["sha256"]?.stringValue?.count == 64)
        // No temporary file left beside it.
        #expect(try FileManager.default.contentsOfDirectory(atPath: f.run).filter { $0.hasPrefix("stages.json") } == ["stages.json"])
        #expect(try StageLedger.read(runDirectory: f.directory + "/nowhere") == nil)
    }

    static let invalid: [(String, String)] = [
        ("not JSON", "{\"schema_version\": 1,"),
        ("not an object", "[1, 2]"),
        ("no schema_version", "{\"created_at\": \"t\", \"stages\": {}}"),
        ("stages not an object", "{\"schema_version\": 1, \"created_at\": \"t\", \"stages\": []}"),
        ("unknown status", "{\"schema_version\": 1, \"created_at\": \"t\", \"stages\": {\"a\": {\"status\": \"done\", \"attempts\": 1}}}"),
        ("attempts a string", "{\"schema_version\": 1, \"created_at\": \"t\", \"stages\": {\"a\": {\"status\": \"completed\", \"attempts\": \"1\"}}}"),
        ("outputs wrong", "{\"schema_version\": 1, \"created_at\": \"t\", \"stages\": {\"a\": {\"status\": \"completed\", \"attempts\": 1, \"outputs\": [{\"path\": 1}]}}}"),
        ("fingerprint tampered", "{\"schema_version\": 1, \"created_at\": \"t\", \"stages\": {\"a\": {\"status\": \"completed\", \"attempts\": 1, \"fingerprint\": {\"sha256\": \"x\", \"command\": \"c\", \"env\": \"e\", \"inputs\": {}, \"upstream\": {}}}}}"),
        ("progress a list", "{\"schema_version\": 1, \"created_at\": \"t\", \"stages\": {\"a\": {\"status\": \"completed\", \"attempts\": 1, \"progress\": [1]}}}"),
    ]

    @Test("an invalid ledger is refused with 65 and its path, never reset", arguments: invalid.map(\.0))
    func invalidLedger(_ label: String) throws {
        let text = Self.invalid.first { $0.0 == label }!.1
        let dir = TestSupport.temporaryDirectory("ledger-invalid")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data(text.utf8).write(to: URL(fileURLWithPath: dir + "/stages.json"))
        do {
            _ = try StageLedger.read(runDirectory: dir)
            Issue.record("accepted")
        } catch let error as ResumableError {
            #expect(error.exitCode == 65, "\(error.message)")
            #expect(error.message.contains(dir + "/stages.json"), "\(error.message)")
            #expect(error.path == dir + "/stages.json")
        }
        #expect(String(decoding: FileManager.default.contents(atPath: dir + "/stages.json")!, as: UTF8.self) == text)
    }

    @Test("a ledger path that is a symlink or a FIFO is refused for reading and writing")
    func misplaced() throws {
        let dir = TestSupport.temporaryDirectory("ledger-misplaced")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let target = dir + "/real.json"
        try StageLedger().write(runDirectory: dir)
        try FileManager.default.moveItem(atPath: dir + "/stages.json", toPath: target)
        #expect(symlink(target, dir + "/stages.json") == 0)
        for body in [{ _ = try StageLedger.read(runDirectory: dir) }, { try StageLedger().write(runDirectory: dir) }] as [() throws -> Void] {
            let error = try #require(throws: ResumableError.self, performing: body)
            #expect(error.exitCode == 65, "\(error.message)")
            #expect(error.message.contains("symbolic link"), "\(error.message)")
        }
        #expect(FileSystem.entryType(dir + "/stages.json") == .symbolicLink)

        try FileManager.default.removeItem(atPath: dir + "/stages.json")
        #expect(mkfifo(dir + "/stages.json", 0o644) == 0)
        for body in [{ _ = try StageLedger.read(runDirectory: dir) }, { try StageLedger().write(runDirectory: dir) }] as [() throws -> Void] {
            let error = try #require(throws: ResumableError.self, performing: body)
            #expect(error.exitCode == 65, "\(error.message)")
        }
    }

    @Test("a stage left in_progress by a dead process reads as interrupted; by a live one, in_progress")
    func interrupted() throws {
        var record = StageRecord()
        record.markStarted(fingerprint: StageFingerprint(command: "c", env: "e", inputs: [:], upstream: [:]))
        #expect(record.observedStatus == .inProgress)

        // A child that has exited (and been reaped): its pid is gone.
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/bin/true")
        try child.run()
        child.waitUntilExit()
        record.owner?.pid = child.processIdentifier
        #expect(record.observedStatus == .interrupted)

        // Our pid with another start time: a later process reusing the pid.
        record.owner = StageOwner.current()
        record.owner?.startTicks += 1
        #expect(record.observedStatus == .interrupted)
        // Another boot.
        record.owner = StageOwner.current()
        record.owner?.bootID = "another-boot"
        #expect(record.observedStatus == .interrupted)
        // Another host cannot be checked: shown as it is.
        record.owner = StageOwner.current()
        record.owner?.host = "elsewhere"
        record.owner?.pid = child.processIdentifier
        #expect(record.observedStatus == .inProgress)
        // No owner recorded: nobody holds it.
        record.owner = nil
        #expect(record.observedStatus == .interrupted)
    }
}
