import Foundation
import Resumable
import Testing

/// Issue 13: every malformed pipeline file is refused before anything runs,
/// with the file, line and column, and exit 64 (usage) or 65 (invalid data).
@Suite("Pipelines: malformed pipeline files")
struct PipelineSpecErrorTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var label: String
        var yaml: String
        var exit: Int32
        /// `line:column` expected in the message.
        var at: String
        /// A fragment of the message.
        var says: String
        var testDescription: String { label }
    }

    static let good = """
        name: demo
        run: runs/demo
        stages:
          - name: a
            command: echo a
        """

    static let cases: [Case] = [
        Case(label: "unknown top-level key", yaml: "name: x\nrun: r\nstgaes: []\n", exit: 64, at: "3:1", says: "unknown key `stgaes`"),
        Case(label: "unknown stage key", yaml: "name: x\nrun: r\nstages:\n  - name: a\n    command: c\n    output: [f]\n", exit: 64, at: "6:5", says: "unknown key `output`"),
        Case(label: "missing command", yaml: "name: x\nrun: r\nstages:\n  - name: a\n    needs: []\n", exit: 64, at: "4:5", says: "has no `command`"),
        Case(label: "missing name", yaml: "run: r\nstages:\n  - name: a\n    command: c\n", exit: 64, at: "1:1", says: "no `name`"),
        Case(label: "missing run", yaml: "name: x\nstages:\n  - name: a\n    command: c\n", exit: 64, at: "1:1", says: "no `run`"),
        Case(label: "missing stages", yaml: "name: x\nrun: r\n", exit: 64, at: "1:1", says: "no `stages`"),
        Case(label: "stage without a name", yaml: "name: x\nrun: r\nstages:\n  - command: c\n", exit: 64, at: "4:5", says: "has no `name`"),
        Case(label: "duplicate stage", yaml: "name: x\nrun: r\nstages:\n  - name: a\n    command: c\n  - name: a\n    command: d\n", exit: 64, at: "6:5", says: "a second stage is named `a`"),
        Case(label: "unknown needs", yaml: "name: x\nrun: r\nstages:\n  - name: a\n    command: c\n    needs: [b]\n", exit: 64, at: "6:13", says: "needs `b`"),
        Case(
            label: "cycle of three",
            yaml: "name: x\nrun: r\nstages:\n  - name: a\n    command: c\n    needs: [c]\n  - name: b\n    command: c\n    needs: [a]\n  - name: c\n    command: c\n    needs: [b]\n",
            exit: 64, at: "9:13", says: "cycle: a → c → b → a"),
        Case(label: "stage needs itself", yaml: "name: x\nrun: r\nstages:\n  - name: a\n    command: c\n    needs: [a]\n", exit: 64, at: "6:13", says: "needs itself"),
        Case(label: "stages is a mapping", yaml: "name: x\nrun: r\nstages: {a: 1}\n", exit: 64, at: "3:9", says: "must be a list of stages"),
        Case(label: "stages empty", yaml: "name: x\nrun: r\nstages: []\n", exit: 64, at: "3:9", says: "`stages` is empty"),
        Case(label: "needs is a string", yaml: "name: x\nrun: r\nstages:\n  - name: a\n    command: c\n    needs: b\n", exit: 64, at: "6:12", says: "must be a list of strings"),
        Case(label: "env is a list", yaml: "name: x\nrun: r\nstages:\n  - name: a\n    command: c\n    env: [A, B]\n", exit: 64, at: "6:10", says: "must be a mapping"),
        Case(label: "env value is a mapping", yaml: "name: x\nrun: r\nstages:\n  - name: a\n    command: c\n    env:\n      A: {b: 1}\n", exit: 64, at: "7:10", says: "env `A`"),
        Case(label: "optional not a bool", yaml: "name: x\nrun: r\nstages:\n  - name: a\n    command: c\n    optional: maybe\n", exit: 64, at: "6:15", says: "true or false"),
        Case(label: "retries not a number", yaml: "name: x\nrun: r\nstages:\n  - name: a\n    command: c\n    retries: two\n", exit: 64, at: "6:14", says: "whole number"),
        Case(label: "max_restarts negative", yaml: "name: x\nrun: r\nstages:\n  - name: a\n    command: c\n    max_restarts: -1\n", exit: 64, at: "6:19", says: "whole number"),
        Case(label: "command is a mapping", yaml: "name: x\nrun: r\nstages:\n  - name: a\n    command: {x: 1}\n", exit: 64, at: "5:14", says: "must be a string"),
        Case(label: "command is empty list", yaml: "name: x\nrun: r\nstages:\n  - name: a\n    command: []\n", exit: 64, at: "5:14", says: "empty list"),
        Case(label: "unknown placeholder", yaml: "name: x\nrun: r\nstages:\n  - name: a\n    command: train --out {runn}\n", exit: 64, at: "5:14", says: "unknown placeholder {runn}"),
        Case(label: "output escapes the run", yaml: "name: x\nrun: r\nstages:\n  - name: a\n    command: c\n    outputs: [../x]\n", exit: 64, at: "6:15", says: "relative path inside the run directory"),
        Case(label: "bad stage name", yaml: "name: x\nrun: r\nstages:\n  - name: a/b\n    command: c\n", exit: 64, at: "4:11", says: "is not valid"),
        Case(label: "duplicate key", yaml: "name: x\nname: y\nrun: r\nstages:\n  - name: a\n    command: c\n", exit: 64, at: "1:1", says: "has the key `name` twice"),
        Case(label: "preflight without command", yaml: good + "\npreflight:\n  - name: torch\n", exit: 64, at: "7:5", says: "no `command`"),
        Case(label: "root is a list", yaml: "- a\n- b\n", exit: 64, at: "1:1", says: "must be a mapping"),
        Case(label: "empty file", yaml: "", exit: 64, at: "1:1", says: "empty"),
        Case(label: "only a comment", yaml: "# nothing\n", exit: 64, at: "1:1", says: "empty"),
        Case(label: "tab indentation", yaml: "name: x\nrun: r\nstages:\n\t- name: a\n", exit: 65, at: "4:", says: "YAML syntax error"),
        Case(label: "unclosed flow list", yaml: "name: x\nrun: r\nstages: [a\n", exit: 65, at: "4:1", says: "YAML syntax error"),
        Case(label: "bad indentation", yaml: "name: x\n  run: r\n", exit: 65, at: "2:", says: "YAML syntax error"),
        Case(label: "undefined alias", yaml: "name: *nope\nrun: r\nstages: []\n", exit: 65, at: "1:7", says: "undefined alias"),
        Case(label: "binary content", yaml: "name: x\nrun: r\u{0}\n", exit: 65, at: "2:7", says: "binary"),
        Case(
            label: "alias bomb (many aliases)",
            yaml: "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + (1...12).map { "b\($0): &b\($0) [" + Array(repeating: "*" + ($0 == 1 ? "a" : "b\($0 - 1)"), count: 10).joined(separator: ", ") + "]" }.joined(separator: "\n") + "\n",
            exit: 65, at: "12:12", says: "alias"),
    ]

    func run(_ bytes: [UInt8], file: String = "pipeline.yaml") -> ResumableError? {
        do {
            _ = try PipelineSpec.parse(bytes, file: file)
            return nil
        } catch let error as ResumableError {
            return error
        } catch {
            Issue.record("not a ResumableError: \(error)")
            return nil
        }
    }

    @Test("a malformed file is refused with its exit code and location", arguments: cases)
    func malformed(_ c: Case) throws {
        let error = try #require(run(Array(c.yaml.utf8)), "accepted")
        #expect(error.exitCode == c.exit, "\(error.message)")
        #expect(error.message.hasPrefix("pipeline.yaml:" + c.at), "\(error.message)")
        #expect(error.message.contains(c.says), "\(error.message)")
        #expect(error.path == "pipeline.yaml")
    }

    @Test("an alias bomb under the alias limit is refused by the expansion limit")
    func expansionBomb() throws {
        // 9 levels of 9 aliases: 81 aliases, 9^9 nodes once expanded.
        var yaml = "l0: &l0 [x, x, x, x, x, x, x, x, x]\n"
        for i in 1...9 { yaml += "l\(i): &l\(i) [" + Array(repeating: "*l\(i - 1)", count: 9).joined(separator: ", ") + "]\n" }
        let error = try #require(run(Array(yaml.utf8)))
        #expect(error.exitCode == 65)
        #expect(error.message.contains("alias bomb"), "\(error.message)")
        #expect(error.message.hasPrefix("pipeline.yaml:1:1"), "\(error.message)")
    }

    @Test("non-UTF-8 is refused with the line and column of the first bad byte")
    func notUTF8() throws {
        let error = try #require(run(Array("name: x\nrun: caf".utf8) + [0xE9, 0x0A]))
        #expect(error.exitCode == 65)
        #expect(error.message.hasPrefix("pipeline.yaml:2:9"), "\(error.message)")
        #expect(error.message.contains("UTF-8"))
    }

    @Test("a 10 MB file is refused before it is read whole, and in memory")
    func hugeFile() throws {
        let dir = TestSupport.temporaryDirectory("pipeline-huge")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/pipeline.yaml"
        let bytes = Array((Self.good + "\n" + String(repeating: "# padding\n", count: 1_000_000)).utf8)
        FileManager.default.createFile(atPath: path, contents: Data(bytes))
        for error in [try #require(run(bytes)), try #require(catching { _ = try PipelineSpec.load(path: path) })] {
            #expect(error.exitCode == 65)
            #expect(error.message.contains(":1:1: the pipeline file is"), "\(error.message)")
            #expect(error.message.contains("1 MiB"))
        }
    }

    @Test("a missing pipeline file is not found (66)")
    func missingFile() throws {
        let error = try #require(catching { _ = try PipelineSpec.load(path: "/nonexistent/pipeline.yaml") })
        #expect(error.exitCode == 66)
    }

    func catching(_ body: () throws -> Void) -> ResumableError? {
        do {
            try body()
            return nil
        } catch { return error as? ResumableError }
    }
}
