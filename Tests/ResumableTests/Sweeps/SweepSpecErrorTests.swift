import Foundation
import Resumable
import Testing

/// Issue 14, point 1: every malformed sweep file is refused before anything
/// runs, with the file, line and column, and exit 64 (usage) or 65 (invalid data).
@Suite("Sweeps: malformed sweep files")
struct SweepSpecErrorTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var label: String
        var yaml: String
        var exit: Int32
        /// `line:column` expected at the start of the message (after the file name).
        var at: String
        /// A fragment of the message.
        var says: String
        var testDescription: String { label }
    }

    /// Five lines: name, run, command, matrix, one parameter.
    static let head = "name: x\nrun: r\ncommand: echo {a}\nmatrix:\n  a: [1, 2]\n"

    static let cases: [Case] = [
        Case(label: "unknown key", yaml: head + "workerz: 2\n", exit: 64, at: "6:1", says: "unknown key `workerz`"),
        Case(label: "workers of the wrong type", yaml: head + "workers: two\n", exit: 64, at: "6:10", says: "whole number from 1 to 256, found `two`"),
        Case(label: "workers 0", yaml: head + "workers: 0\n", exit: 64, at: "6:10", says: "whole number from 1 to 256"),
        Case(label: "retries over 1000", yaml: head + "retries: 1001\n", exit: 64, at: "6:10", says: "from 0 to 1000"),
        Case(label: "max_restarts negative", yaml: head + "max_restarts: -1\n", exit: 64, at: "6:15", says: "from 0 to 1000"),
        Case(label: "empty matrix", yaml: "name: x\nrun: r\ncommand: echo\nmatrix: {}\n", exit: 64, at: "4:9", says: "`matrix` is empty"),
        Case(label: "matrix is a list", yaml: "name: x\nrun: r\ncommand: echo\nmatrix: [a, b]\n", exit: 64, at: "4:9", says: "must be a mapping"),
        Case(label: "empty value list", yaml: "name: x\nrun: r\ncommand: echo\nmatrix:\n  a: []\n", exit: 64, at: "5:6", says: "empty list of values"),
        Case(label: "a parameter that is not a list", yaml: "name: x\nrun: r\ncommand: echo\nmatrix:\n  a: 1\n", exit: 64, at: "5:6", says: "(write [1] for a single value)"),
        Case(label: "a list as a value", yaml: "name: x\nrun: r\ncommand: echo\nmatrix:\n  a: [[1, 2], 3]\n", exit: 64, at: "5:7", says: "must be a single value"),
        Case(label: "a mapping as a value", yaml: "name: x\nrun: r\ncommand: echo\nmatrix:\n  a: [{b: 1}]\n", exit: 64, at: "5:7", says: "lists and mappings cannot be parameter values"),
        Case(label: "null value", yaml: "name: x\nrun: r\ncommand: echo\nmatrix:\n  a: [1, null]\n", exit: 64, at: "5:10", says: "is null"),
        Case(label: "infinite value", yaml: "name: x\nrun: r\ncommand: echo\nmatrix:\n  a: [.inf]\n", exit: 64, at: "5:7", says: "not a finite number"),
        Case(label: "integer over 64 bits", yaml: "name: x\nrun: r\ncommand: echo\nmatrix:\n  a: [99999999999999999999]\n", exit: 64, at: "5:7", says: "does not fit a 64-bit integer"),
        Case(label: "tagged value of the wrong type", yaml: "name: x\nrun: r\ncommand: echo\nmatrix:\n  a: [!!int abc]\n", exit: 64, at: "5:7", says: "tagged !!int"),
        Case(label: "duplicate key", yaml: "name: x\nrun: r\ncommand: echo\nmatrix:\n  a: [1]\n  a: [2]\n", exit: 64, at: "5:3", says: "has the key `a` twice"),
        Case(label: "duplicate top-level key", yaml: head + "name: y\n", exit: 64, at: "1:1", says: "has the key `name` twice"),
        Case(label: "unknown placeholder", yaml: "name: x\nrun: r\ncommand: train --lr {lrr}\nmatrix:\n  lr: [1]\n", exit: 64, at: "3:10", says: "unknown placeholder {lrr}"),
        Case(label: "unknown placeholder in env", yaml: head + "env: {A: \"{outptu}\"}\n", exit: 64, at: "6:10", says: "unknown placeholder {outptu} in env `A`"),
        Case(label: "unknown placeholder in result", yaml: head + "result: \"{unit}/r.json\"\n", exit: 64, at: "6:9", says: "unknown placeholder {unit} in `result`"),
        Case(label: "unquoted {output} as the result", yaml: head + "result: {output}\n", exit: 64, at: "6:9", says: "write \"{output}\" in quotes"),
        Case(label: "exclude naming an unknown parameter", yaml: head + "exclude:\n  - {b: 1}\n", exit: 64, at: "7:6", says: "`b`, which is not a matrix parameter"),
        Case(label: "exclude with a value not in the matrix", yaml: head + "exclude:\n  - {a: \"1\"}\n", exit: 64, at: "7:9", says: "not one of its values"),
        Case(label: "exclude leaving out every unit", yaml: "name: x\nrun: r\ncommand: echo {a}\nmatrix:\n  a: [1]\nexclude:\n  - {a: 1}\n", exit: 64, at: "7:3", says: "leaves out every unit"),
        Case(label: "empty exclude", yaml: head + "exclude:\n  - {}\n", exit: 64, at: "7:5", says: "would leave out every unit"),
        Case(label: "include that is not a mapping", yaml: head + "include:\n  - 3\n", exit: 64, at: "7:5", says: "must be a mapping"),
        Case(label: "include without a value the command uses", yaml: head + "include:\n  - {b: 1}\n", exit: 64, at: "7:5", says: "no value for `a`"),
        Case(label: "command using an include-only parameter", yaml: "name: x\nrun: r\ncommand: echo {a} {b}\nmatrix:\n  a: [1]\ninclude:\n  - {a: 2, b: 3}\n", exit: 64, at: "3:10", says: "{b}, which is not a matrix parameter"),
        Case(label: "missing command", yaml: "name: x\nrun: r\nmatrix:\n  a: [1]\n", exit: 64, at: "1:1", says: "no `command`"),
        Case(label: "missing name", yaml: "run: r\ncommand: c\nmatrix:\n  a: [1]\n", exit: 64, at: "1:1", says: "no `name`"),
        Case(label: "missing run", yaml: "name: x\ncommand: c\nmatrix:\n  a: [1]\n", exit: 64, at: "1:1", says: "no `run`"),
        Case(label: "missing matrix", yaml: "name: x\nrun: r\ncommand: c\n", exit: 64, at: "1:1", says: "no `matrix`"),
        Case(label: "command is an empty list", yaml: "name: x\nrun: r\ncommand: []\nmatrix:\n  a: [1]\n", exit: 64, at: "3:10", says: "empty list"),
        Case(label: "command is a mapping", yaml: "name: x\nrun: r\ncommand: {a: 1}\nmatrix:\n  a: [1]\n", exit: 64, at: "3:10", says: "must be a string"),
        Case(label: "reserved parameter name", yaml: "name: x\nrun: r\ncommand: c\nmatrix:\n  output: [1]\n", exit: 64, at: "5:3", says: "built-in placeholder"),
        Case(label: "bad parameter name", yaml: "name: x\nrun: r\ncommand: c\nmatrix:\n  a-b: [1]\n", exit: 64, at: "5:3", says: "is not valid"),
        Case(label: "bad sweep name", yaml: "name: a/b\nrun: r\ncommand: c\nmatrix:\n  a: [1]\n", exit: 64, at: "1:7", says: "is not valid"),
        Case(label: "env value is a list", yaml: head + "env: {A: [1]}\n", exit: 64, at: "6:10", says: "env `A` must be a string"),
        Case(label: "bad env name", yaml: head + "env: {1A: x}\n", exit: 64, at: "6:7", says: "not a valid environment variable name"),
        Case(label: "bad timeout string", yaml: head + "timeout: soon\n", exit: 64, at: "6:10", says: "a duration like 90m, 2h, 1h30m or 45s"),
        Case(label: "timeout with digits and no unit at the end", yaml: head + "timeout: 1h30\n", exit: 64, at: "6:10", says: "found `1h30`"),
        Case(label: "timeout with units out of order", yaml: head + "timeout: 30m1h\n", exit: 64, at: "6:10", says: "found `30m1h`"),
        Case(label: "timeout 0", yaml: head + "timeout: 0\n", exit: 64, at: "6:10", says: "positive number of seconds"),
        Case(label: "root is a list", yaml: "- a\n- b\n", exit: 64, at: "1:1", says: "must be a mapping"),
        Case(label: "empty file", yaml: "", exit: 64, at: "1:1", says: "empty"),
        Case(label: "YAML syntax error: unclosed list", yaml: "name: x\nrun: r\ncommand: c\nmatrix:\n  a: [1, 2\n", exit: 65, at: "6:1", says: "YAML syntax error"),
        Case(label: "YAML syntax error: tab indentation", yaml: "name: x\nrun: r\ncommand: c\nmatrix:\n\ta: [1]\n", exit: 65, at: "5:", says: "YAML syntax error"),
        Case(label: "binary content (NUL)", yaml: "name: x\nrun: r\u{0}\n", exit: 65, at: "2:7", says: "holds binary data"),
        Case(
            label: "alias bomb (many aliases)",
            yaml: "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + (1...12).map { "b\($0): &b\($0) [" + Array(repeating: "*" + ($0 == 1 ? "a" : "b\($0 - 1)"), count: 10).joined(separator: ", ") + "]" }.joined(separator: "\n") + "\n",
            exit: 65, at: "12:12", says: "more than 100 YAML aliases"),
    ]

    @Test("a malformed sweep file is refused with its exit code and location", arguments: cases)
    func malformed(_ c: Case) throws {
        let error = try #require(SweepFixture.error(Array(c.yaml.utf8)), "accepted")
        #expect(error.exitCode == c.exit, "\(error.message)")
        #expect(error.message.hasPrefix("sweep.yaml:" + c.at), "\(error.message)")
        #expect(error.message.contains(c.says), "\(error.message)")
        #expect(error.path == "sweep.yaml")
    }

    @Test("an alias bomb under the alias limit is refused by the expansion limit")
    func expansionBomb() throws {
        // 9 levels of 9 aliases: 81 aliases, 9^9 nodes once expanded.
        var yaml = "l0: &l0 [x, x, x, x, x, x, x, x, x]\n"
        for i in 1...9 { yaml += "l\(i): &l\(i) [" + Array(repeating: "*l\(i - 1)", count: 9).joined(separator: ", ") + "]\n" }
        let error = try #require(SweepFixture.error(Array(yaml.utf8)))
        #expect(error.exitCode == 65)
        #expect(error.message.hasPrefix("sweep.yaml:1:1: the sweep file expands to more than 100000 YAML nodes"), "\(error.message)")
        #expect(error.message.contains("alias bomb"))
    }

    @Test("non-UTF-8 is refused with the line and column of the first bad byte")
    func notUTF8() throws {
        let error = try #require(SweepFixture.error(Array("name: x\nrun: caf".utf8) + [0xE9, 0x0A]))
        #expect(error.exitCode == 65)
        #expect(error.message.hasPrefix("sweep.yaml:2:9: the sweep file is not valid UTF-8"), "\(error.message)")
    }

    @Test("a 2 MB file is refused (65) from memory and from disk, before it is read whole")
    func hugeFile() throws {
        let fixture = try SweepFixture(yaml: Self.head + String(repeating: "# padding padding padding padding\n", count: 60_000))
        defer { fixture.remove() }
        let bytes = try FileSystem.readFile(fixture.file)
        #expect(bytes.count > 2_000_000)
        let fromMemory = try #require(SweepFixture.error(bytes))
        let fromDisk = try #require(SweepFixture.catching { _ = try fixture.spec() })
        for error in [fromMemory, fromDisk] {
            #expect(error.exitCode == 65)
            #expect(error.message.contains(":1:1: the sweep file is \(bytes.count) bytes, more than the 1 MiB a sweep file may be"), "\(error.message)")
        }
        #expect(fromDisk.path == fixture.file)
    }

    @Test("a missing file is .notFound (66)")
    func missingFile() throws {
        let dir = TestSupport.temporaryDirectory("sweep-missing")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let error = try #require(SweepFixture.catching { _ = try SweepSpec.load(path: dir + "/nope.yaml") })
        #expect(error.exitCode == 66, "\(error.message)")
    }

    @Test("more than 10,000 units are refused (64) naming the count and --allow-large, and accepted with it")
    func tooManyUnits() throws {
        let yaml = "name: big\nrun: r\ncommand: echo {a} {b}\nmatrix:\n  a: [\((1...101).map(String.init).joined(separator: ", "))]\n  b: [\((1...100).map(String.init).joined(separator: ", "))]\n"
        let error = try #require(SweepFixture.error(Array(yaml.utf8)))
        #expect(error.exitCode == 64)
        #expect(error.message.hasPrefix("sweep.yaml:5:3: the sweep has 10100 units"), "\(error.message)")
        #expect(error.message.contains("more than 10000; pass --allow-large"), "\(error.message)")

        let spec = try SweepFixture.parse(yaml, allowLarge: true)
        #expect(spec.units.count == 10_100)
        #expect(Set(spec.units.map(\.key)).count == 10_100)

        // Excludes count: 101 × 100 less the 100 units with a = 101 is exactly 10,000, accepted without the flag.
        let trimmed = try SweepFixture.parse(yaml + "exclude:\n  - {a: 101}\n")
        #expect(trimmed.units.count == 10_000)
    }

    @Test("more than 1,000,000 units are refused even with allowLarge, before any is made")
    func hardLimit() throws {
        let yaml = "name: huge\nrun: r\ncommand: echo {a} {b} {c}\nmatrix:\n  a: [\((1...1000).map(String.init).joined(separator: ", "))]\n  b: [\((1...1000).map(String.init).joined(separator: ", "))]\n  c: [1, 2]\n"
        let error = try #require(SweepFixture.error(Array(yaml.utf8), allowLarge: true))
        #expect(error.exitCode == 64)
        #expect(error.message.contains("the matrix has 2000000 combinations (1000 × 1000 × 2), more than 1000000"), "\(error.message)")
    }

    @Test("more than 100 parameters are refused")
    func tooManyParameters() throws {
        let yaml = "name: wide\nrun: r\ncommand: c\nmatrix:\n" + (1...101).map { "  p\($0): [1]\n" }.joined()
        let error = try #require(SweepFixture.error(Array(yaml.utf8)))
        #expect(error.exitCode == 64)
        #expect(error.message.contains("101 parameters, more than 100"), "\(error.message)")
    }
}

