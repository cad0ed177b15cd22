import Foundation
import Resumable
import Testing

/// Issue 14, point 1: the sweep file, its units and their substituted commands.
@Suite("Sweeps: the sweep file")
struct SweepSpecTests {
    @Test("a full sweep file: fields, defaults, units in order (matrix product, excludes, then includes)")
    func fullFile() throws {
        let fixture = try SweepFixture()
        defer { fixture.remove() }
        let spec = try fixture.spec()
        #expect(spec.name == "ablation")
        #expect(spec.run == "runs/ablation")
        #expect(spec.runDirectory == fixture.directory + "/runs/ablation")
        #expect(spec.sweepDirectory == fixture.directory + "/runs/ablation/sweeps/ablation")
        #expect(spec.command == .shell("python3 experiment.py --rep {representation} --layers {layers} --out {output}"))
        #expect(spec.matrix.map(\.name) == ["representation", "layers"])
        #expect(spec.workers == 2 && spec.retries == 1 && spec.maxRestarts == 3)
        #expect(spec.timeout == 5400)
        #expect(spec.result == "{output}")
        #expect(spec.env == ["OMP_NUM_THREADS": "1", "TAG": "{representation}-{key}"])
        #expect(spec.parameterNames == ["representation", "layers", "seed"])

        let labels = spec.units.map(\.label)
        #expect(
            labels == [
                "representation=simple_stats layers=all_layers", "representation=simple_stats layers=visual_only",
                "representation=rank_based layers=all_layers", "representation=rank_based layers=visual_only",
                "representation=spectral layers=all_layers", "representation=raw layers=all_layers seed=7",
            ])
        #expect(spec.units.last?.origin == .include(SourceLocation(file: fixture.file, line: 10, column: 5)))
        #expect(spec.units.first?.origin == .matrix)

        let unit = spec.units[0]
        #expect(unit.directory == spec.sweepDirectory + "/units/" + unit.key)
        #expect(unit.resultPath == unit.directory + "/result.json")
        #expect(unit.resultIsJSON)
        #expect(unit.argv == ["/bin/sh", "-c", "python3 experiment.py --rep simple_stats --layers all_layers --out \(unit.directory)/result.json"])
        #expect(unit.env == ["OMP_NUM_THREADS": "1", "TAG": "simple_stats-\(unit.key)"])
        #expect(unit.value(of: "layers") == .string("all_layers"))
        #expect(unit.value(of: "seed") == nil)
        #expect(spec.unit(key: unit.key) == unit)
        #expect(unit.paramsJSON == ["representation": "simple_stats", "layers": "all_layers"])
        #expect(SweepUnit.isKey(unit.key) && SweepUnit.isFingerprint(unit.fingerprint) && unit.fingerprint.hasPrefix(unit.key))
    }

    @Test("defaults: workers 1, retries 0, max_restarts 3, no timeout, result {output}, no env")
    func defaults() throws {
        let spec = try SweepFixture.parse("name: d\nrun: r\ncommand: echo {a}\nmatrix: {a: [1]}\n")
        #expect(spec.workers == 1 && spec.retries == 0 && spec.maxRestarts == 3 && spec.timeout == nil)
        #expect(spec.result == "{output}" && spec.env.isEmpty)
        #expect(spec.runDirectory == "/data/sweeps/r")
        #expect(spec.units.count == 1)
    }

    @Test("parameter values are typed by the YAML 1.2 core schema; quoting makes a string")
    func valueTypes() throws {
        let spec = try SweepFixture.parse(
            """
            name: t
            run: r
            command: echo {v}
            matrix:
              v: [1, "1", 1.0, 1e-3, .5, -7, 0x1F, 0o17, true, "true", yes, on, 1_000, 2024-01-01, !!str 5, !!float 2, ~text, 3.]
            """)
        let values = spec.units.map { $0.value(of: "v")! }
        #expect(
            values == [
                .int(1), .string("1"), .float(1.0), .float(0.001), .float(0.5), .int(-7), .int(31), .int(15), .bool(true), .string("true"),
                .string("yes"), .string("on"), .string("1_000"), .string("2024-01-01"), .string("5"), .float(2), .string("~text"), .float(3),
            ])
        #expect(values.map(\.canonicalJSON) == [
            "1", "\"1\"", "1.0", "0.001", "0.5", "-7", "31", "15", "true", "\"true\"", "\"yes\"", "\"on\"", "\"1_000\"", "\"2024-01-01\"",
            "\"5\"", "2.0", "\"~text\"", "3.0",
        ])
        // What is substituted: strings as they are, the rest as canonical JSON.
        #expect(spec.units.map { $0.argv[2] }.prefix(4) == ["echo 1", "echo 1", "echo 1.0", "echo 0.001"])
    }

    @Test("a value listed twice, and an include equal to a matrix unit, are kept once")
    func duplicates() throws {
        let spec = try SweepFixture.parse(
            """
            name: t
            run: r
            command: echo {a} {b}
            matrix:
              a: [1, 2, 1]
              b: [x]
            include:
              - {b: x, a: 2}
              - {a: 3, b: x}
              - {a: 3, b: x}
            """)
        #expect(spec.units.map(\.label) == ["a=1 b=x", "a=2 b=x", "a=3 b=x"])
        #expect(spec.matrix[0].values == [.int(1), .int(2)])
        #expect(spec.units[1].origin == .matrix)
    }

    @Test("an include may add parameters the matrix has not; excludes match typed values; an include can bring back an excluded unit")
    func includeAndExclude() throws {
        let spec = try SweepFixture.parse(
            """
            name: t
            run: r
            command: [python3, run.py, "--a={a}", "{b}"]
            matrix:
              a: [1, 2]
              b: [x, y]
            exclude:
              - {a: 2}
            include:
              - {a: 2, b: y, extra: true}
              - {a: 2, b: x}
            """)
        #expect(spec.units.map(\.label) == ["a=1 b=x", "a=1 b=y", "a=2 b=y extra=true", "a=2 b=x"])
        #expect(spec.units[2].argv == ["python3", "run.py", "--a=2", "y"])
        #expect(spec.exclude.count == 1 && spec.include.count == 2)
    }

    @Test("placeholders: every parameter, {output}, {unit_dir}, {key}, {run}, {name}, literal braces, ${VAR} and awk braces left alone")
    func placeholders() throws {
        let spec = try SweepFixture.parse(
            """
            name: ph
            run: runs/x
            command: "echo {a} {output} {unit_dir} {key} {run} {name} {{a}} ${HOME} | awk '{print $1}'"
            matrix: {a: [v]}
            env: {OUT: "{output}", RUN: "{run}/{name}/{a}"}
            result: "out/{key}-{a}.csv"
            """)
        let unit = try #require(spec.units.first)
        let dir = "/data/sweeps/runs/x/sweeps/ph/units/\(unit.key)"
        #expect(unit.directory == dir)
        #expect(unit.argv[2] == "echo v \(dir)/result.json \(dir) \(unit.key) /data/sweeps/runs/x ph {a} ${HOME} | awk '{print $1}'")
        #expect(unit.env == ["OUT": dir + "/result.json", "RUN": "/data/sweeps/runs/x/ph/v"])
        #expect(unit.resultPath == "/data/sweeps/out/\(unit.key)-v.csv")
        #expect(!unit.resultIsJSON)
    }

    @Test("timeouts: seconds as numbers, or durations with h, m, s")
    func timeouts() throws {
        let cases: [(String, Double)] = [("90", 90), ("2.5", 2.5), ("90m", 5400), ("2h", 7200), ("1h30m", 5400), ("45s", 45), ("1h0m5s", 3605), ("\"45s\"", 45)]
        for (text, seconds) in cases {
            let spec = try SweepFixture.parse("name: t\nrun: r\ncommand: c\nmatrix: {a: [1]}\ntimeout: \(text)\n")
            #expect(spec.timeout == seconds, "\(text)")
        }
    }

    @Test("a sweep of includes only needs no matrix")
    func includesOnly() throws {
        let spec = try SweepFixture.parse("name: t\nrun: r\ncommand: echo {a}\ninclude:\n  - {a: 1}\n  - {a: 2}\n")
        #expect(spec.matrix.isEmpty)
        #expect(spec.units.map(\.label) == ["a=1", "a=2"])
    }
}
