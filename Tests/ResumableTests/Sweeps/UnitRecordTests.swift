import Foundation
import Resumable
import Synchronization
import Testing

/// Unit records, `RUN/sweeps/NAME/units/KEY.json`: written atomically, read strictly.
@Suite("Sweeps: unit records")
struct UnitRecordTests {
    static let yaml = "name: rec\nrun: runs/rec\ncommand: echo {a} {b}\nmatrix:\n  a: [1, 2.5]\n  b: [x, true]\n"

    func fixture() throws -> (SweepFixture, SweepSpec, SweepStore) {
        let fixture = try SweepFixture(yaml: Self.yaml)
        let spec = try fixture.spec()
        return (fixture, spec, SweepStore(spec: spec))
    }

    @Test("a record round-trips through its file: pending, running, done with JSON or a file, failed, Slurm")
    func roundTrip() throws {
        let (fixture, spec, store) = try fixture()
        defer { fixture.remove() }
        let unit = spec.units[1]
        var record = UnitRecord(unit: unit)
        #expect(record.status == .pending && record.attempts == 0 && record.log == "logs/\(unit.key).log")
        #expect(record.params == ["a": .int(1), "b": .bool(true)])
        try store.save(record)
        #expect(try store.record(unit.key) == record)

        record.markStarted(at: "2026-11-29T20:00:00.000Z", slurm: SlurmTask(jobID: "4242", arrayTaskID: 3))
        #expect(record.status == .running && record.attempts == 1 && record.owner?.pid == getpid())
        try store.save(record)
        #expect(try store.record(unit.key) == record)
        #expect(try store.record(unit.key)?.observedStatus == .running, "this process is alive")

        record.markDone(result: .json(["loss": 0.25, "nested": ["k": [1, 2]], "name": "ok"]), at: "2026-11-29T20:01:30.500Z")
        #expect(record.durationSeconds == 90.5 && record.exitCode == 0 && record.owner == nil)
        try store.save(record)
        #expect(try store.record(unit.key) == record)

        record.markStarted(at: "2026-11-29T21:00:00.000Z")
        record.markFailed(exitCode: 3, errorTail: (1...30).map { "line \($0)" }, at: "2026-11-29T21:00:01.000Z")
        #expect(record.errorTail.count == 20 && record.errorTail.first == "line 11" && record.attempts == 2 && record.result == nil)
        try store.save(record)
        #expect(try store.record(unit.key) == record)

        record.markStarted()
        record.markDone(result: .file(path: "/x/model.pt", bytes: 12, sha256: String(repeating: "ab", count: 32)))
        try store.save(record)
        let read = try #require(try store.record(unit.key))
        #expect(read == record)
        #expect(read.json["result"] == ["path": "/x/model.pt", "bytes": 12, "sha256": .string(String(repeating: "ab", count: 32))])

        // The file: every key, sorted, pretty-printed.
        let text = String(decoding: try FileSystem.readFile(store.recordPath(unit.key)), as: UTF8.self)
        for key in ["schema_version", "key", "fingerprint", "params", "status", "attempts", "started_at", "finished_at", "duration_seconds",
            "exit_code", "log", "result", "error_tail", "owner", "slurm"]
        {
            #expect(text.contains("\"\(key)\":"), "\(key)")
        }
        #expect(store.recordPath(unit.key) == spec.sweepDirectory + "/units/\(unit.key).json")

        record.reopen()
        #expect(record.status == .pending && record.attempts == 0 && record.result == nil && record.startedAt != nil)
    }

    @Test("running with an owner that is gone is observed interrupted; an owner on another host stays running")
    func observedStatus() throws {
        let (fixture, spec, _) = try fixture()
        defer { fixture.remove() }
        var record = UnitRecord(unit: spec.units[0])
        record.markStarted()
        let dead = try TestProcess("/bin/true", [])
        let deadPid = dead.pid
        dead.wait()
        record.owner = StageOwner(pid: deadPid, host: RunLock.hostName(), bootID: RunLock.bootID(), startTicks: 1)
        #expect(record.observedStatus == .interrupted)
        record.owner = StageOwner(pid: getpid(), host: RunLock.hostName(), bootID: "another-boot", startTicks: 1)
        #expect(record.observedStatus == .interrupted, "the machine rebooted since")
        record.owner = StageOwner(pid: deadPid, host: "some-other-host", bootID: "", startTicks: 1)
        #expect(record.observedStatus == .running)
        record.owner = nil
        #expect(record.observedStatus == .interrupted)
    }

    struct Damage: Sendable, CustomTestStringConvertible {
        var label: String
        /// Changes the record's JSON text.
        var edit: @Sendable (String, UnitRecord) -> String
        var says: String
        var exit: Int32 = 65
        var testDescription: String { label }
    }

    static let damages: [Damage] = [
        Damage(label: "invalid JSON", edit: { text, _ in String(text.dropLast(3)) }, says: "is not valid JSON"),
        Damage(label: "not an object", edit: { _, _ in "[1, 2]" }, says: "not a JSON object"),
        Damage(label: "attempts is a string", edit: { t, _ in t.replacingOccurrences(of: "\"attempts\": 1", with: "\"attempts\": \"1\"") }, says: "\"attempts\""),
        Damage(label: "attempts negative", edit: { t, _ in t.replacingOccurrences(of: "\"attempts\": 1", with: "\"attempts\": -1") }, says: "\"attempts\""),
        Damage(label: "unknown status", edit: { t, _ in t.replacingOccurrences(of: "\"status\": \"done\"", with: "\"status\": \"finished\"") }, says: "\"status\""),
        Damage(label: "missing params", edit: { t, _ in t.replacingOccurrences(of: "\"params\"", with: "\"parameters\"") }, says: "\"params\""),
        Damage(label: "a list as a parameter", edit: { t, _ in t.replacingOccurrences(of: "\"a\": 1", with: "\"a\": [1]") }, says: "parameter \"a\""),
        Damage(label: "exit code out of range", edit: { t, _ in t.replacingOccurrences(of: "\"exit_code\": 0", with: "\"exit_code\": 4294967296") }, says: "\"exit_code\""),
        Damage(label: "duration negative", edit: { t, _ in t.replacingOccurrences(of: "\"duration_seconds\": ", with: "\"duration_seconds\": -") }, says: "\"duration_seconds\""),
        Damage(label: "result of neither form", edit: { t, _ in t.replacingOccurrences(of: "\"json\":", with: "\"jsn\":") }, says: "\"result\""),
        Damage(label: "owner pid 0", edit: { t, _ in t.replacingOccurrences(of: "\"owner\": null", with: "\"owner\": {\"pid\": 0, \"host\": \"h\"}") }, says: "\"owner\""),
        Damage(
            label: "error_tail over 20 lines",
            edit: { t, _ in t.replacingOccurrences(of: "\"error_tail\": []", with: "\"error_tail\": [" + Array(repeating: "\"x\"", count: 21).joined(separator: ",") + "]") },
            says: "\"error_tail\""),
        Damage(
            label: "fingerprint not matching the key",
            edit: { t, r in t.replacingOccurrences(of: r.fingerprint, with: String(repeating: "0", count: 64)) }, says: "does not start with the key"),
        Damage(
            label: "key not matching the file name",
            edit: { t, r in
                let other = String(repeating: "0", count: 64)
                return t.replacingOccurrences(of: r.fingerprint, with: other).replacingOccurrences(of: "\"key\": \"\(r.key)\"", with: "\"key\": \"\(other.prefix(16))\"")
            }, says: "holds the record of unit 0000000000000000"),
        Damage(label: "another schema version", edit: { t, _ in t.replacingOccurrences(of: "\"schema_version\": 1", with: "\"schema_version\": 2") }, says: "schema_version 2"),
    ]

    @Test("a damaged record is refused (65) naming its path", arguments: damages)
    func strictRead(_ damage: Damage) throws {
        let (fixture, spec, store) = try fixture()
        defer { fixture.remove() }
        var record = UnitRecord(unit: spec.units[0])
        record.markStarted(at: "2026-11-29T20:00:00.000Z")
        record.markDone(result: .json(["loss": 1]), at: "2026-11-29T20:00:02.000Z")
        try store.save(record)
        let path = store.recordPath(record.key)
        let text = String(decoding: try FileSystem.readFile(path), as: UTF8.self)
        let damaged = damage.edit(text, record)
        #expect(damaged != text, "the edit changed nothing")
        try Data(damaged.utf8).write(to: URL(fileURLWithPath: path))
        let error = try #require(SweepFixture.catching { _ = try UnitRecord.read(path: path) })
        #expect(error.exitCode == damage.exit, "\(error.message)")
        #expect(error.message.hasPrefix(path), "\(error.message)")
        #expect(error.message.contains(damage.says), "\(error.message)")
        #expect(error.path == path)
    }

    @Test("a record is never read or written through a symbolic link")
    func symlink() throws {
        let (fixture, spec, store) = try fixture()
        defer { fixture.remove() }
        let record = UnitRecord(unit: spec.units[0])
        let elsewhere = fixture.directory + "/elsewhere.json"
        try record.write(to: elsewhere)
        try store.createDirectories()
        let path = store.recordPath(record.key)
        try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: elsewhere)
        let readError = try #require(SweepFixture.catching { _ = try store.record(record.key) })
        #expect(readError.exitCode == 65 && readError.message.contains("symbolic link"), "\(readError.message)")
        let before = try FileSystem.readFile(elsewhere)
        var changed = record
        changed.markStarted()
        let writeError = try #require(SweepFixture.catching { try store.save(changed) })
        #expect(writeError.exitCode == 65, "\(writeError.message)")
        #expect(try FileSystem.readFile(elsewhere) == before, "the link's target is untouched")
        #expect(FileSystem.entryType(path) == .symbolicLink)
    }

    @Test("a FIFO in place of a record is refused at once, without blocking")
    func fifo() throws {
        let (fixture, spec, store) = try fixture()
        defer { fixture.remove() }
        try store.createDirectories()
        let key = spec.units[0].key
        #expect(mkfifo(store.recordPath(key), 0o644) == 0)
        let done = DispatchSemaphore(value: 0)
        let outcome = Mutex<ResumableError?>(nil)
        Thread.detachNewThread {
            outcome.withLock { $0 = SweepFixture.catching { _ = try store.record(key) } }
            done.signal()
        }
        #expect(done.wait(timeout: .now() + 10) == .success, "reading the FIFO blocked")
        let error = try #require(outcome.withLock { $0 })
        #expect(error.exitCode == 65 && error.message.contains("FIFO"), "\(error.message)")
        // records() reports it as damaged rather than failing.
        let all = try store.records()
        #expect(all.count == 1)
        guard case .damaged(let damagedKey, _, let reason)? = all.first else {
            Issue.record("not reported damaged: \(all)")
            return
        }
        #expect(damagedKey == key && reason.contains("FIFO"))
    }

    @Test("records() reads every KEY.json, reports damaged ones with the reason, and ignores unit directories and temporary files")
    func records() throws {
        let (fixture, spec, store) = try fixture()
        defer { fixture.remove() }
        #expect(try store.records().isEmpty, "no directory yet")
        for unit in spec.units.prefix(3) { try store.save(UnitRecord(unit: unit)) }
        let broken = spec.units[3].key
        try Data("{\"schema_version\": 1".utf8).write(to: URL(fileURLWithPath: store.recordPath(broken)))
        try FileSystem.createDirectory(store.unitDirectory(spec.units[0].key))
        try Data("x".utf8).write(to: URL(fileURLWithPath: store.recordPath(spec.units[0].key) + ".tmp-1-2"))
        try Data("x".utf8).write(to: URL(fileURLWithPath: store.unitsDirectory + "/notes.json"))
        let all = try store.records()
        #expect(all.map(\.key) == spec.units.map(\.key).sorted())
        #expect(all.compactMap(\.record).count == 3)
        let damaged = all.filter { $0.record == nil }
        #expect(damaged.map(\.key) == [broken])
        if case .damaged(_, let path, let reason) = damaged[0] {
            #expect(path == store.recordPath(broken))
            #expect(reason.contains("is not valid JSON"), "\(reason)")
        }
    }

    @Test("paths of a unit: record, unit directory, claim, log")
    func paths() throws {
        let store = SweepStore(directory: "/r/sweeps/s")
        let key = "0123456789abcdef"
        #expect(store.recordPath(key) == "/r/sweeps/s/units/0123456789abcdef.json")
        #expect(store.unitDirectory(key) == "/r/sweeps/s/units/0123456789abcdef")
        #expect(store.claimPath(key) == "/r/sweeps/s/claims/0123456789abcdef")
        #expect(store.logPath(key) == "/r/sweeps/s/logs/0123456789abcdef.log")
        #expect(SweepUnit.isKey(key) && !SweepUnit.isKey("0123456789ABCDEF") && !SweepUnit.isKey("../../etc/passw"))
    }
}
