import Foundation
import Resumable
import Testing

/// `SweepMerge`: the done units' results, in the spec's order; the CSV table
/// with parameter columns then flattened result fields.
@Suite("Sweeps: merge")
struct SweepMergeTests {
    static let yaml = """
        name: grid
        run: runs
        command: run {rep} {lr} {output}
        matrix:
          rep: [b, a]
          lr: [0.1, 1.0]
        include:
          - {rep: c, lr: 0.5, extra: true}
        """

    static func done(_ unit: SweepUnit, _ result: UnitResult) -> UnitRecord { SweepStatusTests.done(unit, result) }

    @Test("rows in the spec's order; parameter columns in the file's order then include-only; result fields flattened with dots, sorted")
    func table() throws {
        let fixture = try SweepFixture(yaml: Self.yaml)
        defer { fixture.remove() }
        let spec = try fixture.spec()
        let store = SweepStore(spec: spec)
        let u = spec.units
        try store.save(Self.done(u[0], .json(["metrics": ["acc": 0.9, "loss": 1], "tags": ["x", "y"], "note": "a, \"b\""])))
        try store.save(Self.done(u[1], .json(["metrics": ["acc": 0.5], "rep": "shadow", "empty": [:], "none": nil])))
        try store.save(SweepStatusTests.failed(u[2]))
        try store.save(Self.done(u[4], .file(path: "/x/model.bin", bytes: 12, sha256: String(repeating: "ab", count: 32))))
        let merge = try SweepMerge.make(spec: spec)
        #expect(merge.rows.map(\.unit) == [u[0], u[1], u[4]])
        #expect(merge.notDone.map(\.unit) == [u[2], u[3]])
        #expect(merge.notDone.map(\.status) == [.failed, .pending])
        #expect(merge.parameterColumns == ["rep", "lr", "extra"])
        #expect(merge.resultColumns == ["bytes", "empty", "metrics.acc", "metrics.loss", "none", "note", "path", "result.rep", "sha256", "tags"])
        let t = merge.table
        #expect(t[0] == ["rep", "lr", "extra", "bytes", "empty", "metrics.acc", "metrics.loss", "none", "note", "path", "result.rep", "sha256", "tags"])
        #expect(t[1] == ["b", "0.1", "", "", "", "0.9", "1", "", "a, \"b\"", "", "", "", "[\"x\",\"y\"]"])
        #expect(t[2] == ["b", "1.0", "", "", "{}", "0.5", "", "", "", "", "shadow", "", ""])
        #expect(t[3] == ["c", "0.5", "true", "12", "", "", "", "", "", "/x/model.bin", "", String(repeating: "ab", count: 32), ""])
    }

    @Test("results.json: {key, params, result} per done unit, a file as {path, bytes, sha256}; both files written atomically")
    func files() throws {
        let fixture = try SweepFixture(yaml: Self.yaml)
        defer { fixture.remove() }
        let spec = try fixture.spec()
        let store = SweepStore(spec: spec)
        let u = spec.units
        try store.save(Self.done(u[3], .json(["acc": 1])))
        try store.save(Self.done(u[4], .file(path: "/x/m.bin", bytes: 3, sha256: String(repeating: "0", count: 64))))
        let merge = try SweepMerge.make(spec: spec)
        try merge.write(csv: Array("csv\n".utf8))
        let json = try JSONParser(maxDepth: 64).parse(Array(FileManager.default.contents(atPath: merge.jsonPath)!))
        #expect(json == .array([
            .object(["key": .string(u[3].key), "params": ["rep": "a", "lr": 1.0], "result": ["acc": 1]]),
            .object(["key": .string(u[4].key), "params": ["rep": "c", "lr": 0.5, "extra": true], "result": ["path": "/x/m.bin", "bytes": 3, "sha256": .string(String(repeating: "0", count: 64))]]),
        ]))
        #expect(merge.jsonPath == spec.sweepDirectory + "/results.json")
        #expect(try String(contentsOfFile: merge.csvPath, encoding: .utf8) == "csv\n")
        let names = try FileManager.default.contentsOfDirectory(atPath: spec.sweepDirectory)
        #expect(!names.contains { $0.contains(".tmp-") })

        // A link in the place of results.csv is refused, its target untouched.
        let outside = TestSupport.temporaryDirectory("sweep-outside") + "/target"
        try Data("keep".utf8).write(to: URL(fileURLWithPath: outside))
        try FileManager.default.removeItem(atPath: merge.csvPath)
        try FileManager.default.createSymbolicLink(atPath: merge.csvPath, withDestinationPath: outside)
        #expect(SweepFixture.catching { try merge.write(csv: Array("x".utf8)) }?.exitCode == 65)
        #expect(try String(contentsOfFile: outside, encoding: .utf8) == "keep")
    }

    @Test("nothing done: no rows, a header of the parameters")
    func empty() throws {
        let fixture = try SweepFixture(yaml: Self.yaml)
        defer { fixture.remove() }
        let merge = try SweepMerge.make(spec: try fixture.spec())
        #expect(merge.rows.isEmpty && merge.notDone.count == 5)
        #expect(merge.table == [["rep", "lr", "extra"]])
        #expect(merge.resultsJSON == .array([]))
    }

    @Test("a result that is no object is the column `result`")
    func scalarResult() throws {
        let fixture = try SweepFixture(yaml: Self.yaml)
        defer { fixture.remove() }
        let spec = try fixture.spec()
        try SweepStore(spec: spec).save(Self.done(spec.units[0], .json([1, 2])))
        let merge = try SweepMerge.make(spec: spec)
        #expect(merge.resultColumns == ["result"])
        #expect(merge.table[1] == ["b", "0.1", "", "[1,2]"])
    }
}
