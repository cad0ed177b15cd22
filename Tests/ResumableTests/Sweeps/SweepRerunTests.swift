import Foundation
import Resumable
import Testing

/// `SweepRerun`: selecting units by typed value, reopening them under their
/// claims, moving their run directories aside, and what is left alone.
@Suite("Sweeps: rerun")
struct SweepRerunTests {
    static let yaml = """
        name: grid
        run: runs
        command: run {rep} {lr} {seed} {output}
        matrix:
          rep: [a, b, "1"]
          lr: [0.1, 1.0]
          seed: [1, 2]
        """

    static func done(_ unit: SweepUnit) -> UnitRecord { SweepStatusTests.done(unit) }

    /// Every unit done, with a run directory holding a checkpoint-ish file.
    static func allDone(_ fixture: SweepFixture) throws -> SweepSpec {
        let spec = try fixture.spec()
        let store = SweepStore(spec: spec)
        for unit in spec.units {
            try store.save(done(unit))
            try fixture.write("runs/sweeps/grid/units/\(unit.key)/checkpoints/step-1/state.json", "{}")
        }
        return spec
    }

    func keys(_ units: [SweepUnit]) -> Set<String> { Set(units.map(\.key)) }

    @Test("--where values match by their text against typed values: strings, floats, integers; pairs AND together")
    func selection() throws {
        let spec = try SweepFixture.parse(Self.yaml)
        func select(_ pairs: [(String, String)]) throws -> [SweepUnit] {
            try SweepRerun.select(SweepRerun.Selection(pairs: pairs.map { (name: $0.0, value: $0.1) }), in: spec)
        }
        #expect(try select([("rep", "a")]).count == 4)
        #expect(try select([("rep", "a")]).allSatisfy { $0.value(of: "rep") == .string("a") })
        #expect(try select([("lr", "0.1")]).allSatisfy { $0.value(of: "lr") == .float(0.1) })
        #expect(try select([("lr", "0.1")]).count == 6)
        #expect(try select([("lr", "1e-1")]).count == 6)  // the same float, spelt otherwise
        #expect(try select([("lr", "1.0")]).count == 6)
        #expect(try select([("rep", "1")]).allSatisfy { $0.value(of: "rep") == .string("1") })  // the string "1"
        #expect(try select([("seed", "2")]).allSatisfy { $0.value(of: "seed") == .int(2) })
        #expect(try select([("seed", "0x2")]).count == 6)
        let both = try select([("rep", "b"), ("lr", "1.0"), ("seed", "1")])
        #expect(both.count == 1)
        #expect(both[0].label == "rep=b lr=1.0 seed=1")
        #expect(try select([]).count == spec.units.count)
    }

    @Test("an unknown parameter, a value no unit has, pairs no unit has together: 64 with what there is")
    func selectionErrors() throws {
        let spec = try SweepFixture.parse(Self.yaml + "\nexclude:\n  - {rep: a, seed: 2}\n")
        func error(_ pairs: [(String, String)]) -> ResumableError? {
            SweepFixture.catching { _ = try SweepRerun.select(SweepRerun.Selection(pairs: pairs.map { (name: $0.0, value: $0.1) }), in: spec) }
        }
        let unknown = try #require(error([("layer", "x")]))
        #expect(unknown.exitCode == 64)
        #expect(unknown.message.contains("no parameter \"layer\"") && unknown.message.contains("rep, lr, seed"))
        let value = try #require(error([("rep", "z")]))
        #expect(value.exitCode == 64)
        #expect(value.message.contains("no unit has rep=z") && value.message.contains("a, b, 1"))
        #expect(error([("lr", "1")])?.exitCode == 64)  // 1 is an integer; the values are the floats 0.1 and 1.0
        let together = try #require(error([("rep", "a"), ("seed", "2")]))
        #expect(together.exitCode == 64)
        #expect(together.message.contains("rep=a and seed=2"))
        #expect(SweepFixture.catching { _ = try SweepRerun.reopen(SweepRerun.Selection(), spec: spec) }?.exitCode == 64)
    }

    @Test("reopened: pending, 0 attempts, result cleared; the run directory moved to previous/KEY; others untouched")
    func reopen() throws {
        let fixture = try SweepFixture(yaml: Self.yaml)
        defer { fixture.remove() }
        let spec = try Self.allDone(fixture)
        let store = SweepStore(spec: spec)
        let report = try SweepRerun.reopen(SweepRerun.Selection(pairs: [(name: "rep", value: "b")]), spec: spec)
        let chosen = spec.units.filter { $0.value(of: "rep") == .string("b") }
        #expect(report.reopened.map(\.unit) == chosen)
        #expect(report.skipped.isEmpty && report.notStarted.isEmpty)
        for unit in spec.units {
            let record = try #require(try store.record(unit.key))
            if chosen.contains(unit) {
                #expect(record.status == .pending && record.attempts == 0 && record.result == nil)
                #expect(record.startedAt != nil)  // the last attempt's times stay
                #expect(!FileManager.default.fileExists(atPath: store.unitDirectory(unit.key)))
                #expect(FileManager.default.fileExists(atPath: store.previousDirectory + "/\(unit.key)/checkpoints/step-1/state.json"))
            } else {
                #expect(record.status == .done)
                #expect(FileManager.default.fileExists(atPath: store.unitDirectory(unit.key) + "/checkpoints/step-1/state.json"))
            }
        }
        // The plan runs them again, from scratch: "reopened".
        let plan = try SweepPlan.make(spec: spec, store: store)
        #expect(plan.unitsToRun == chosen)
        #expect(plan.steps.filter { $0.action == .run }.allSatisfy { $0.reason == "reopened" })

        // Reopened again after another run: the older previous/KEY is replaced.
        let unit = chosen[0]
        try store.save(Self.done(unit))
        try fixture.write("runs/sweeps/grid/units/\(unit.key)/second.txt", "2")
        let again = try SweepRerun.reopen(SweepRerun.Selection(pairs: [(name: "rep", value: "b")]), spec: spec)
        #expect(again.reopened.map(\.unit) == [unit])
        #expect(again.notStarted.count == chosen.count - 1)
        #expect(FileManager.default.fileExists(atPath: store.previousDirectory + "/\(unit.key)/second.txt"))
        #expect(!FileManager.default.fileExists(atPath: store.previousDirectory + "/\(unit.key)/checkpoints"))
    }

    @Test("--failed reopens only failed units (with --where: those among them); interrupted ones are reopened by --all")
    func failedOnly() throws {
        let fixture = try SweepFixture(yaml: Self.yaml)
        defer { fixture.remove() }
        let spec = try Self.allDone(fixture)
        let store = SweepStore(spec: spec)
        let u = spec.units
        try store.save(SweepStatusTests.failed(u[0]))
        try store.save(SweepStatusTests.failed(u[5]))
        var stopped = UnitRecord(unit: u[1])
        stopped.markStarted()
        stopped.markInterrupted()
        try store.save(stopped)
        let report = try SweepRerun.reopen(SweepRerun.Selection(failedOnly: true), spec: spec)
        #expect(report.reopened.map(\.unit) == [u[0], u[5]])
        #expect(report.reopened.allSatisfy { $0.previousStatus == .failed && $0.attempts == 1 })
        #expect(try store.record(u[1].key)?.status == .interrupted)

        try store.save(SweepStatusTests.failed(u[0]))
        try store.save(SweepStatusTests.failed(u[5]))
        let some = try SweepRerun.reopen(SweepRerun.Selection(pairs: [(name: "rep", value: u[5].value(of: "rep")!.text)], failedOnly: true), spec: spec)
        #expect(some.reopened.map(\.unit) == [u[5]])
        #expect(try store.record(u[0].key)?.status == .failed)

        let all = try SweepRerun.reopen(SweepRerun.Selection(all: true), spec: spec)
        #expect(all.reopened.count == u.count - 1)  // u[5] is pending already
        #expect(all.notStarted.map(\.key) == [u[5].key])
        #expect(all.reopened.first { $0.unit == u[1] }?.previousStatus == .interrupted)
    }

    @Test("a unit whose claim another holder has is skipped and reported; a damaged record is left alone; a link is never followed")
    func leftAlone() throws {
        let fixture = try SweepFixture(yaml: Self.yaml)
        defer { fixture.remove() }
        let spec = try Self.allDone(fixture)
        let store = SweepStore(spec: spec)
        let u = spec.units
        let held = try #require(try store.claim(u[0].key))
        defer { held.release() }
        try Data("garbage".utf8).write(to: URL(fileURLWithPath: store.recordPath(u[1].key)))
        // A link in place of a unit's run directory, to a directory outside.
        let outside = TestSupport.temporaryDirectory("sweep-outside")
        defer { try? FileManager.default.removeItem(atPath: outside) }
        try Data("keep".utf8).write(to: URL(fileURLWithPath: outside + "/precious"))
        try FileManager.default.removeItem(atPath: store.unitDirectory(u[2].key))
        try FileManager.default.createSymbolicLink(atPath: store.unitDirectory(u[2].key), withDestinationPath: outside)

        let report = try SweepRerun.reopen(SweepRerun.Selection(all: true), spec: spec)
        let skipped = Dictionary(uniqueKeysWithValues: report.skipped.map { ($0.unit.key, $0.reason) })
        #expect(skipped.count == 3)
        #expect(skipped[u[0].key]?.contains("running in another process") == true)
        #expect(skipped[u[1].key]?.contains("damaged") == true)
        #expect(skipped[u[2].key]?.contains("symbolic link") == true)
        #expect(report.reopened.count == u.count - 3)
        #expect(try store.record(u[0].key)?.status == .done)
        #expect(try store.record(u[2].key)?.status == .done)
        #expect(FileManager.default.fileExists(atPath: store.unitDirectory(u[0].key) + "/checkpoints"))
        #expect(FileManager.default.fileExists(atPath: outside + "/precious"))
        #expect(try String(contentsOfFile: store.recordPath(u[1].key), encoding: .utf8) == "garbage")
        // The claim is still held by its holder, and free again after.
        #expect(held.isHeld)
        held.release()
        let now = try SweepRerun.reopen(SweepRerun.Selection(pairs: [(name: "rep", value: "a"), (name: "lr", value: "0.1"), (name: "seed", value: "1")]), spec: spec)
        #expect(now.reopened.map(\.unit) == [u[0]])
    }

    @Test("a link at previous/KEY is removed, never followed")
    func previousLink() throws {
        let fixture = try SweepFixture(yaml: Self.yaml)
        defer { fixture.remove() }
        let spec = try Self.allDone(fixture)
        let store = SweepStore(spec: spec)
        let outside = TestSupport.temporaryDirectory("sweep-outside")
        defer { try? FileManager.default.removeItem(atPath: outside) }
        try Data("keep".utf8).write(to: URL(fileURLWithPath: outside + "/precious"))
        try FileManager.default.createDirectory(atPath: store.previousDirectory, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: store.previousDirectory + "/" + spec.units[0].key, withDestinationPath: outside)
        let report = try SweepRerun.reopen(SweepRerun.Selection(pairs: [(name: "rep", value: "a"), (name: "lr", value: "0.1"), (name: "seed", value: "1")]), spec: spec)
        #expect(report.reopened.count == 1)
        #expect(FileManager.default.fileExists(atPath: outside + "/precious"))
        #expect(FileManager.default.fileExists(atPath: store.previousDirectory + "/\(spec.units[0].key)/checkpoints/step-1/state.json"))
    }
}
