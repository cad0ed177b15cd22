import Foundation
import Resumable
import Testing

/// `resumable sweep status|rerun|merge` through the built binary, on records
/// written with the library.
@Suite("resumable sweep status, rerun, merge")
struct SweepCLITests {
    static func run(_ arguments: [String], environment: [String: String] = [:]) throws -> TestSupport.Outcome {
        try TestSupport.run(TestSupport.resumable, arguments, environment: environment, deadline: 60)
    }

    /// A PATH without `squeue` (this machine may have a real one).
    static let noSlurm = ["PATH": "/nonexistent"]

    // MARK: status

    @Test("status, piped: the progress line, a table per parameter, failed units with escaped log lines, running, interrupted, damaged, stale")
    func statusText() throws {
        let fixture = try SweepFixture(yaml: SweepStatusTests.yaml)
        defer { fixture.remove() }
        let spec = try SweepStatusTests.mixed(fixture)
        let outcome = try Self.run(["sweep", "status", fixture.file], environment: Self.noSlurm)
        #expect(outcome.status == 0, "\(outcome)")
        let out = outcome.stdout
        #expect(out.contains("Progress: 1/7 done, 1 failed, 2 running, 1 interrupted, 1 damaged, 1 pending\n"))
        #expect(!out.contains("\u{1B}"))  // piped: no colour, and the log's escapes shown escaped
        #expect(out.contains("ValueError: \\x1b[31mbad\\x1b[0m"))
        #expect(out.contains("line 37") && !out.contains("line 36\n"))
        #expect(out.contains("rep  DONE  FAILED  RUNNING  INTERRUPTED  DAMAGED  PENDING\n"))
        #expect(out.contains("a       1       1        0            0        0        0\n"))
        #expect(out.contains("(unset)"))
        #expect(out.contains("\(spec.units[1].key)  rep=a layers=visual  (exit 2, 2 attempts)"))
        #expect(out.contains("log \(spec.sweepDirectory)/logs/\(spec.units[1].key).log"))
        #expect(out.contains("slurm job 4711_3"))
        #expect(out.contains("interrupted units"))
        #expect(out.contains("damaged records") && out.contains(spec.units[6].key))
        #expect(out.contains("1 unit recorded earlier is no longer in the sweep"))
    }

    @Test("status --json: the documented schema")
    func statusJSON() throws {
        let fixture = try SweepFixture(yaml: SweepStatusTests.yaml)
        defer { fixture.remove() }
        let spec = try SweepStatusTests.mixed(fixture)
        let outcome = try Self.run(["sweep", "status", fixture.file, "--json"], environment: Self.noSlurm)
        #expect(outcome.status == 0, "\(outcome)")
        let json = try TestSupport.json(outcome.stdout)
        #expect(json == (try SweepStatus.make(spec: spec, slurm: nil).json))
        #expect(json["counts"] == ["done": 1, "failed": 1, "running": 2, "interrupted": 1, "pending": 1, "damaged": 1])
        #expect(json["failed"]?.arrayValue?.first?["log_tail"]?.arrayValue?.last == "ValueError: \u{1B}[31mbad\u{1B}[0m")
    }

    @Test("status shows Slurm states from squeue when it is in PATH")
    func statusSlurm() throws {
        let fixture = try SweepFixture(yaml: SweepStatusTests.yaml)
        defer { fixture.remove() }
        _ = try SweepStatusTests.mixed(fixture)
        _ = try SweepStatusTests.fakeSqueue(fixture.directory, "printf '4711_3 RUNNING\\n'")
        let outcome = try Self.run(["sweep", "status", fixture.file], environment: ["PATH": fixture.directory])
        #expect(outcome.status == 0, "\(outcome)")
        #expect(outcome.stdout.contains("slurm job 4711_3 RUNNING"))
    }

    @Test("status: a missing file is 66, a bad one 64 with its location")
    func statusErrors() throws {
        let fixture = try SweepFixture(yaml: "name: x\nrun: r\ncommand: c {nope}\nmatrix: {a: [1]}\n")
        defer { fixture.remove() }
        #expect(try Self.run(["sweep", "status", fixture.directory + "/missing.yaml"]).status == 66)
        let bad = try Self.run(["sweep", "status", fixture.file])
        #expect(bad.status == 64, "\(bad)")
        #expect(bad.stderr.contains("sweep.yaml:3"))
    }

    // MARK: rerun

    @Test("rerun --where: reopens the matching units, prints them, moves their run directories aside")
    func rerunWhere() throws {
        let fixture = try SweepFixture(yaml: SweepRerunTests.yaml)
        defer { fixture.remove() }
        let spec = try SweepRerunTests.allDone(fixture)
        let outcome = try Self.run(["sweep", "rerun", fixture.file, "--where", "rep=a", "--where", "lr=0.1"])
        #expect(outcome.status == 0, "\(outcome)")
        let chosen = spec.units.filter { $0.value(of: "rep") == .string("a") && $0.value(of: "lr") == .float(0.1) }
        #expect(chosen.count == 2)
        #expect(outcome.stdout.hasPrefix("Reopened 2 units; the next `sweep run` runs them from scratch:\n"))
        for unit in chosen {
            #expect(outcome.stdout.contains("\(unit.key)  \(unit.label)  (was done; its run directory is kept in \(spec.sweepDirectory)/previous/\(unit.key))"))
            #expect(try SweepStore(spec: spec).record(unit.key)?.status == .pending)
        }
        let status = try TestSupport.json(try Self.run(["sweep", "status", fixture.file, "--json"]).stdout)
        #expect(status["counts"]?["pending"] == 2)
        #expect(status["counts"]?["done"] == 10)
    }

    @Test("rerun: an unknown parameter, a value no unit has, no selection, --all with another: 64")
    func rerunUsage() throws {
        let fixture = try SweepFixture(yaml: SweepRerunTests.yaml)
        defer { fixture.remove() }
        _ = try SweepRerunTests.allDone(fixture)
        let unknown = try Self.run(["sweep", "rerun", fixture.file, "--where", "layer=x"])
        #expect(unknown.status == 64, "\(unknown)")
        #expect(unknown.stderr.contains("its parameters are: rep, lr, seed"))
        let value = try Self.run(["sweep", "rerun", fixture.file, "--where", "rep=zz"])
        #expect(value.status == 64, "\(value)")
        #expect(value.stderr.contains("no unit has rep=zz"))
        #expect(try Self.run(["sweep", "rerun", fixture.file]).status == 64)
        #expect(try Self.run(["sweep", "rerun", fixture.file, "--all", "--failed"]).status == 64)
        #expect(try Self.run(["sweep", "rerun", fixture.file, "--where", "novalue"]).status == 64)
        let status = try TestSupport.json(try Self.run(["sweep", "status", fixture.file, "--json"]).stdout)
        #expect(status["counts"]?["done"] == 12)
    }

    @Test("rerun --all: a unit another process has claimed is skipped with a warning, exit 0; --json lists it")
    func rerunClaimed() throws {
        let fixture = try SweepFixture(yaml: SweepRerunTests.yaml)
        defer { fixture.remove() }
        let spec = try SweepRerunTests.allDone(fixture)
        let held = try #require(try SweepStore(spec: spec).claim(spec.units[3].key))
        defer { held.release() }
        let outcome = try Self.run(["sweep", "rerun", fixture.file, "--all", "--json"])
        #expect(outcome.status == 0, "\(outcome)")
        #expect(outcome.stderr.contains("1 selected unit was not reopened"))
        #expect(outcome.stderr.contains(spec.units[3].key))
        let json = try TestSupport.json(outcome.stdout)
        #expect(json["reopened"]?.arrayValue?.count == 11)
        #expect(json["skipped"]?.arrayValue?.first?["key"] == .string(spec.units[3].key))
        #expect(try SweepStore(spec: spec).record(spec.units[3].key)?.status == .done)
    }

    @Test("rerun --failed with nothing failed: says so, exit 0")
    func rerunNothingFailed() throws {
        let fixture = try SweepFixture(yaml: SweepRerunTests.yaml)
        defer { fixture.remove() }
        _ = try SweepRerunTests.allDone(fixture)
        let outcome = try Self.run(["sweep", "rerun", fixture.file, "--failed"])
        #expect(outcome.status == 0, "\(outcome)")
        #expect(outcome.stdout == "No failed unit to reopen.\n")
    }

    // MARK: merge

    static let hostileYAML = """
        name: grid
        run: runs
        command: run {text} {n} {output}
        matrix:
          text: ["plain", "a,b", "say \\"hi\\"", "two\\nlines", "ünïcødé ✓ 日本", "cr\\r\\nlf", " padded "]
          n: [1, 2.5]
        include:
          - {text: "x", n: 3, flag: true}
        """

    @Test("merge: results.csv round-trips through Python's csv module with commas, quotes, newlines and unicode; results.json matches")
    func mergeRoundTrip() throws {
        let fixture = try SweepFixture(yaml: Self.hostileYAML)
        defer { fixture.remove() }
        let spec = try fixture.spec()
        let store = SweepStore(spec: spec)
        for (i, unit) in spec.units.enumerated() where i != 3 {
            let text = unit.value(of: "text")!.text
            try store.save(
                SweepStatusTests.done(
                    unit,
                    .json([
                        "metrics": ["acc": .double(Double(i) / 10), "name": .string("m,\"\(text)\"\n")], "list": [1, "two, \"2\""],
                        "only_\(i % 2)": true,
                    ])))
        }
        let outcome = try Self.run(["sweep", "merge", fixture.file])
        #expect(outcome.status == 0, "\(outcome)")
        #expect(outcome.stdout.hasPrefix("Merged \(spec.units.count - 1) of \(spec.units.count) units (1 not done, left out).\n"))
        #expect(outcome.stderr.contains("1 unit is not done and left out (1 pending)"))

        let merge = try SweepMerge.make(spec: spec)
        let script = """
            import csv, json, sys
            with open(sys.argv[1], newline='', encoding='utf-8') as f:
                print(json.dumps(list(csv.reader(f))))
            """
        let python = try TestSupport.run("/usr/bin/python3", ["-c", script, merge.csvPath])
        #expect(python.status == 0, "\(python)")
        let rows = try TestSupport.json(python.stdout).arrayValue?.map { $0.arrayValue?.compactMap(\.stringValue) ?? [] }
        #expect(rows == merge.table)
        #expect(rows?.count == spec.units.count - 1 + 1)
        #expect(rows?[0] == ["text", "n", "flag", "list", "metrics.acc", "metrics.name", "only_0", "only_1"])
        #expect(rows?.contains { $0.first == "two\nlines" } == true)
        #expect(rows?.contains { $0.first == "cr\r\nlf" } == true)
        #expect(rows?.contains { $0.first == "ünïcødé ✓ 日本" } == true)
        #expect(rows?[1][3] == "[1,\"two, \\\"2\\\"\"]")

        let results = try JSONParser(maxDepth: 64).parse(Array(FileManager.default.contents(atPath: merge.jsonPath)!))
        #expect(results == merge.resultsJSON)
        #expect(results.arrayValue?.map { $0["key"]?.stringValue ?? "" } == merge.rows.map(\.unit.key))

        let json = try TestSupport.json(try Self.run(["sweep", "merge", fixture.file, "--json"]).stdout)
        #expect(json["done"] == .int(Int64(spec.units.count - 1)))
        #expect(json["not_done"]?.arrayValue?.count == 1)
        #expect(json["results_csv"] == .string(merge.csvPath))
    }
}
