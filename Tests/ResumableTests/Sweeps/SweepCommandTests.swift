import Foundation
import Resumable
import Testing

/// Values substituted into a string command are shell-quoted: run through
/// /bin/sh, each arrives as one argument, byte for byte, and nothing in it runs.
@Suite("Sweeps: substituted commands")
struct SweepCommandTests {
    static let hostile: [String] = [
        "plain_value-1.5", "with spaces", "it's", "double \"quotes\"", "$(touch PWNED)", "`touch PWNED`", "a; touch PWNED", "*",
        "$HOME", "tab\there", "line\nbreak", "", "ünïcødé ✓", "back\\slash", "'", "''", "{braces}", "-n",
    ]

    /// A YAML double-quoted string holding `value`.
    static func yamlString(_ value: String) -> String {
        "\"" + value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n").replacingOccurrences(of: "\t", with: "\\t") + "\""
    }

    @Test("a hostile value arrives intact through /bin/sh -c and runs nothing", arguments: hostile)
    func shellQuoting(_ value: String) throws {
        let dir = TestSupport.temporaryDirectory("sweep-quote")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let spec = try SweepFixture.parse(
            "name: q\nrun: r\ncommand: printf '[%s]' {v} {v}\nmatrix:\n  v: [\(Self.yamlString(value))]\n", base: dir)
        let unit = try #require(spec.units.first)
        #expect(unit.value(of: "v") == .string(value))
        #expect(unit.argv[0] == "/bin/sh" && unit.argv[1] == "-c")
        let outcome = try TestSupport.run(unit.argv[0], Array(unit.argv.dropFirst()), directory: dir)
        #expect(outcome.status == 0, "\(outcome)")
        #expect(outcome.stdout == "[\(value)][\(value)]", "\(unit.argv[2])")
        #expect(!FileManager.default.fileExists(atPath: dir + "/PWNED"))
    }

    @Test("only values with characters outside [A-Za-z0-9_./:=+-@%,] are quoted")
    func quotedOnlyWhenNeeded() throws {
        let spec = try SweepFixture.parse(
            "name: q\nrun: r\ncommand: run {v}\nmatrix:\n  v: [\"a-b_c.d/e:f=g+h@i%j,k\", \"a b\", \"it's\", \"\", 0.5, true]\n")
        #expect(spec.units.map { $0.argv[2] } == ["run a-b_c.d/e:f=g+h@i%j,k", "run 'a b'", "run 'it'\\''s'", "run ''", "run 0.5", "run true"])
    }

    @Test("a list command gets values as they are, one argument each, no shell")
    func argvAsIs() throws {
        let value = "$(touch PWNED) it's \"x\""
        let spec = try SweepFixture.parse(
            "name: q\nrun: r\ncommand: [printf, \"[%s]\", \"{v}\", \"--flag={v}\"]\nmatrix:\n  v: [\(Self.yamlString(value))]\n")
        let unit = try #require(spec.units.first)
        #expect(unit.argv == ["printf", "[%s]", value, "--flag=" + value])
        #expect(unit.command == .arguments(unit.argv))
    }

    @Test("a path with spaces in {output} and {run} is quoted too")
    func placesAreQuoted() throws {
        let spec = try SweepFixture.parse("name: q\nrun: my runs\ncommand: touch {output}\nmatrix: {v: [1]}\n", base: "/tmp/a dir")
        let unit = try #require(spec.units.first)
        #expect(unit.argv[2] == "touch '/tmp/a dir/my runs/sweeps/q/units/\(unit.key)/result.json'")
        #expect(unit.resultPath == "/tmp/a dir/my runs/sweeps/q/units/\(unit.key)/result.json")
    }
}
