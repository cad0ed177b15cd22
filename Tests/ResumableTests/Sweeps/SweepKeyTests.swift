import Foundation
import Resumable
import Testing

/// Issue 14, point 2: units keyed by content — the command template, the
/// typed parameter values and the env; stable across machines and YAML order.
@Suite("Sweeps: unit keys")
struct SweepKeyTests {
    static let base = """
        name: keys
        run: runs/keys
        command: python3 train.py --lr {lr} --seed {seed} --out {output}
        matrix:
          lr: [0.1, 0.01]
          seed: [0, 1, 2]
        include:
          - {lr: 0.5, seed: 9, tag: extra}
        env: {A: "1", B: "{lr}", C: "{run}/{key}"}
        """

    @Test("the fingerprint is the SHA-256 of the documented text (checked with sha256sum)")
    func documentedText() throws {
        let spec = try SweepFixture.parse("name: k\nrun: r\ncommand: echo {b} {a}\nmatrix:\n  b: [\"x y\"]\n  a: [1.0]\nenv: {Z: \"{a}\", A: \"{key}-{{lit}}\"}\n")
        let unit = try #require(spec.units.first)
        let command = try SweepFixture.sha256sum("sh:echo {b} {a}")
        let env = try SweepFixture.sha256sum("A={key}-{{lit}}\nZ=1.0\n")
        let text = "resumable-sweep-unit 1\ncommand \(command)\nparam a 1.0\nparam b \"x y\"\nenv \(env)\n"
        #expect(SweepUnit.fingerprintText(command: spec.command, params: unit.params, envHash: env) == text)
        #expect(unit.fingerprint == (try SweepFixture.sha256sum(text)))
        #expect(unit.key == String(unit.fingerprint.prefix(16)))

        let argv = try SweepFixture.parse("name: k\nrun: r\ncommand: [echo, \"{a}\"]\nmatrix: {a: [1]}\n")
        let argvText = "resumable-sweep-unit 1\ncommand \(try SweepFixture.sha256sum("argv:echo\u{0}{a}"))\nparam a 1\nenv \(try SweepFixture.sha256sum(""))\n"
        #expect(argv.units[0].fingerprint == (try SweepFixture.sha256sum(argvText)))
    }

    @Test("keys do not change when YAML keys, matrix parameters, mapping keys or value lists are reordered")
    func reorderingKeepsKeys() throws {
        let reordered = """
            env: {C: "{run}/{key}", B: "{lr}", A: "1"}
            include:
              - {tag: extra, seed: 9, lr: 0.5}
            matrix:
              seed: [2, 0, 1]
              lr: [0.01, 0.1]
            command: python3 train.py --lr {lr} --seed {seed} --out {output}
            run: runs/keys
            name: keys
            """
        let a = try SweepFixture.parse(Self.base)
        let b = try SweepFixture.parse(reordered)
        #expect(a.units.count == 7)
        #expect(SweepFixture.keys(a) == SweepFixture.keys(b))
        #expect(a.units.map(\.key) != b.units.map(\.key), "the order of the units follows the file; their keys do not")
    }

    @Test("keys are the same on another machine: another directory, run directory or sweep name")
    func keysDoNotDependOnPlace() throws {
        let a = try SweepFixture.parse(Self.base, base: "/home/alice/project")
        let b = try SweepFixture.parse(
            Self.base.replacingOccurrences(of: "run: runs/keys", with: "run: /scratch/bob/keys").replacingOccurrences(of: "name: keys", with: "name: renamed"),
            base: "/cluster/bob")
        #expect(SweepFixture.keys(a) == SweepFixture.keys(b))
        #expect(a.units[0].directory != b.units[0].directory)
    }

    @Test("1, \"1\" and 1.0 (and true, \"true\") are different units with different keys")
    func typesMakeKeys() throws {
        let spec = try SweepFixture.parse("name: k\nrun: r\ncommand: echo {a}\nmatrix:\n  a: [1, \"1\", 1.0, true, \"true\"]\n")
        #expect(spec.units.count == 5)
        #expect(Set(spec.units.map(\.key)).count == 5)
        // But two spellings of one value are one unit: 1.0 and 1.00, 0.001 and 1e-3.
        let same = try SweepFixture.parse("name: k\nrun: r\ncommand: echo {a}\nmatrix:\n  a: [1.0, 1.00, 0.001, 1e-3]\n")
        #expect(same.units.map(\.label) == ["a=1.0", "a=0.001"])
    }

    @Test("changing the command template changes every key")
    func commandChangesEveryKey() throws {
        let a = try SweepFixture.parse(Self.base)
        let b = try SweepFixture.parse(Self.base.replacingOccurrences(of: "--out {output}", with: "--out  {output}"))
        #expect(Set(a.units.map(\.key)).isDisjoint(with: b.units.map(\.key)))
        #expect(a.units.count == b.units.count)
    }

    @Test("adding a matrix value adds units and leaves the existing keys unchanged; removing one drops only its units")
    func growingTheMatrix() throws {
        let a = SweepFixture.keys(try SweepFixture.parse(Self.base))
        let grown = SweepFixture.keys(try SweepFixture.parse(Self.base.replacingOccurrences(of: "seed: [0, 1, 2]", with: "seed: [0, 1, 2, 3]")))
        #expect(grown.count == a.count + 2)
        for (label, key) in a { #expect(grown[label] == key, "\(label)") }
        #expect(Set(grown.keys).subtracting(a.keys) == ["lr=0.01 seed=3", "lr=0.1 seed=3"])

        let shrunk = SweepFixture.keys(try SweepFixture.parse(Self.base.replacingOccurrences(of: "lr: [0.1, 0.01]", with: "lr: [0.1]")))
        #expect(shrunk.count == 4)
        for (label, key) in shrunk { #expect(a[label] == key, "\(label)") }
    }

    @Test("changing env changes the keys; a parameter used in env changes them per value; placement placeholders do not")
    func envChangesKeys() throws {
        let a = SweepFixture.keys(try SweepFixture.parse(Self.base))
        let changed = SweepFixture.keys(try SweepFixture.parse(Self.base.replacingOccurrences(of: "A: \"1\"", with: "A: \"2\"")))
        #expect(Set(a.values).isDisjoint(with: changed.values))
        let added = SweepFixture.keys(try SweepFixture.parse(Self.base.replacingOccurrences(of: "A: \"1\",", with: "A: \"1\", D: x,")))
        #expect(Set(a.values).isDisjoint(with: added.values))
        // The same env written with the parameter's value instead of {lr} is the same unit.
        let spelled = try SweepFixture.parse("name: k\nrun: r\ncommand: echo {lr}\nmatrix: {lr: [0.1]}\nenv: {B: \"0.1\"}\n")
        let placeholder = try SweepFixture.parse("name: k\nrun: r\ncommand: echo {lr}\nmatrix: {lr: [0.1]}\nenv: {B: \"{lr}\"}\n")
        #expect(spelled.units[0].key == placeholder.units[0].key)
        // A literal {{run}} is not the placeholder {run}.
        let literal = try SweepFixture.parse("name: k\nrun: r\ncommand: echo {lr}\nmatrix: {lr: [0.1]}\nenv: {B: \"{{run}}\"}\n")
        let runPlaceholder = try SweepFixture.parse("name: k\nrun: r\ncommand: echo {lr}\nmatrix: {lr: [0.1]}\nenv: {B: \"{run}\"}\n")
        #expect(literal.units[0].key != runPlaceholder.units[0].key)
        #expect(literal.units[0].env["B"] == "{run}")
    }

    @Test("result, workers, retries, timeout and max_restarts are not part of the key")
    func schedulingIsNotContent() throws {
        let a = SweepFixture.keys(try SweepFixture.parse(Self.base))
        let b = SweepFixture.keys(try SweepFixture.parse(Self.base + "\nworkers: 8\nretries: 3\ntimeout: 2h\nmax_restarts: 0\nresult: \"{unit_dir}/r.json\"\n"))
        #expect(a == b)
    }
}
