import Foundation
import Resumable
import Testing

/// `resumable sweep run`, end to end through the built binary, with shell
/// units (unit.sh) that append their key to `execs.txt` and write their
/// result `{output}` as JSON.
@Suite("resumable sweep run")
struct SweepRunTests {
    /// A sweep directory with `yaml` as sweep.yaml, the unit script and `files`.
    struct Project {
        let directory: String
        let name: String
        var file: String { directory + "/sweep.yaml" }
        var sweepDirectory: String { directory + "/runs/sweeps/" + name }

        init(_ yaml: String, name: String = "s", files: [String: String] = [:]) throws {
            directory = TestSupport.temporaryDirectory("sweep-run")
            self.name = name
            try write("sweep.yaml", yaml)
            try write("unit.sh", SweepRunTests.unitScript)
            for (path, text) in files { try write(path, text) }
        }

        func write(_ relative: String, _ text: String) throws {
            let path = directory + "/" + relative
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        }

        func read(_ relative: String) -> String {
            (try? String(contentsOfFile: directory + "/" + relative, encoding: .utf8)) ?? ""
        }

        /// The lines of execs.txt: `KEY ATTEMPT` per execution.
        var executions: [String] { read("execs.txt").split(separator: "\n").map(String.init) }

        /// How many times each key ran.
        var executionCounts: [String: Int] {
            var counts: [String: Int] = [:]
            for line in executions { counts[String(line.split(separator: " ")[0]), default: 0] += 1 }
            return counts
        }

        @discardableResult
        func sweep(_ arguments: String..., environment: [String: String] = [:], deadline: Double = 120) throws -> TestSupport.Outcome {
            try TestSupport.run(TestSupport.resumable, ["sweep"] + arguments, environment: environment, directory: directory, deadline: deadline)
        }

        /// Starts `sweep run` (a process-group leader: Foundation makes it one).
        func start(
            _ arguments: [String] = [], environment: [String: String] = [:], stdout: TestProcess.Output = .capture, stderr: TestProcess.Output = .capture
        ) throws -> TestProcess {
            try TestProcess(
                TestSupport.resumable, ["sweep", "run", "sweep.yaml"] + arguments, environment: environment, directory: directory, stdout: stdout,
                stderr: stderr)
        }

        /// The valid records by key.
        func records() throws -> [String: UnitRecord] {
            var byKey: [String: UnitRecord] = [:]
            for stored in try SweepStore(directory: sweepDirectory).records() {
                guard case .valid(let record) = stored else {
                    Issue.record("damaged record: \(stored)")
                    continue
                }
                byKey[record.key] = record
            }
            return byKey
        }

        func spec() throws -> SweepSpec { try SweepSpec.load(path: file) }

        func remove() { try? FileManager.default.removeItem(atPath: directory) }
    }

    /// unit.sh REP N OUTPUT KEY: appends `KEY ATTEMPT` to execs.txt, sleeps
    /// `$UNIT_SLEEP` (or 0), writes `{"rep": REP, "n": N, "sum": "REP-N"}`.
    /// REP `bad` writes text that is not JSON; `none` writes nothing.
    static let unitScript = """
        echo "$4 ${RESUMABLE_ATTEMPT:-?}" >> execs.txt
        sleep "${UNIT_SLEEP:-0}"
        case "$1" in
          bad) echo "not json {" > "$3" ;;
          none) ;;
          *) printf '{"rep": "%s", "n": %s, "sum": "%s-%s"}\\n' "$1" "$2" "$1" "$2" > "$3" ;;
        esac
        """

    static func yaml(reps: String = "[a, b, c]", ns: String = "[1, 2]", extra: String = "", command: String = "sh unit.sh {rep} {n} {output} {key}") -> String {
        """
        name: s
        run: runs
        command: \(command)
        matrix:
          rep: \(reps)
          n: \(ns)
        workers: 2
        \(extra)
        """
    }

    @Test("every unit runs once and its result is recorded; a second run runs nothing")
    func runsOnce() throws {
        let p = try Project(Self.yaml())
        defer { p.remove() }
        let first = try p.sweep("run", "sweep.yaml")
        #expect(first.status == 0, "\(first)")
        #expect(first.stderr.contains("Running all 6 units."), "\(first.stderr)")
        #expect(first.stderr.contains("Progress: 6/6 done."), "\(first.stderr)")
        #expect(first.stderr.contains("done    rep=a n=1 ("), "one plain line per unit end when piped: \(first.stderr)")
        let spec = try p.spec()
        #expect(Set(p.executionCounts.keys) == Set(spec.units.map(\.key)))
        #expect(p.executionCounts.values.allSatisfy { $0 == 1 })
        let records = try p.records()
        for unit in spec.units {
            let record = try #require(records[unit.key])
            #expect(record.status == .done)
            #expect(record.attempts == 1)
            #expect(record.exitCode == 0)
            #expect(record.owner == nil)
            let rep = unit.value(of: "rep")!.text, n = unit.value(of: "n")!.text
            #expect(record.result == .json(.object(["rep": .string(rep), "n": .int(Int64(n)!), "sum": .string("\(rep)-\(n)")])), "\(String(describing: record.result))")
            let log = p.read("runs/sweeps/s/logs/\(unit.key).log")
            #expect(log.hasPrefix("== resumable sweep: unit \(unit.key) (rep=\(rep) n=\(n)), attempt 1, "), "\(log)")
        }

        let second = try p.sweep("run", "sweep.yaml")
        #expect(second.status == 0, "\(second)")
        #expect(second.stderr.contains("All 6 units are finished; nothing to run."), "\(second.stderr)")
        #expect(p.executions.count == 6, "nothing ran again")
    }

    @Test("growing the matrix runs only the new units; reordering YAML keys runs none; changing the command runs all")
    func changes() throws {
        let p = try Project(Self.yaml())
        defer { p.remove() }
        #expect(try p.sweep("run", "sweep.yaml").status == 0)
        #expect(p.executions.count == 6)

        try p.write("sweep.yaml", Self.yaml(ns: "[1, 2, 3]"))
        let grown = try p.sweep("run", "sweep.yaml")
        #expect(grown.status == 0, "\(grown)")
        #expect(grown.stderr.contains("Found 6 finished units; running the 3 that remain."), "\(grown.stderr)")
        #expect(p.executions.count == 9)
        let n3 = Set(try p.spec().units.filter { $0.value(of: "n") == .int(3) }.map(\.key))
        #expect(Set(p.executions.suffix(3).map { String($0.split(separator: " ")[0]) }) == n3)

        try p.write(
            "sweep.yaml",
            """
            workers: 3
            matrix:
              n: [3, 2, 1]
              rep: [c, a, b]
            command: sh unit.sh {rep} {n} {output} {key}
            run: runs
            name: s
            """)
        let reordered = try p.sweep("run", "sweep.yaml")
        #expect(reordered.status == 0, "\(reordered)")
        #expect(reordered.stderr.contains("All 9 units are finished; nothing to run."), "\(reordered.stderr)")
        #expect(p.executions.count == 9)

        try p.write("sweep.yaml", Self.yaml(ns: "[1, 2, 3]", command: "sh  unit.sh {rep} {n} {output} {key}"))
        let changed = try p.sweep("run", "sweep.yaml")
        #expect(changed.status == 0, "\(changed)")
        #expect(changed.stderr.contains("Running all 9 units."), "\(changed.stderr)")
        #expect(changed.stderr.contains("9 units recorded earlier are no longer in the sweep"), "\(changed.stderr)")
        #expect(p.executions.count == 18)
    }

    @Test("a result that is not JSON and a missing result fail their units with a clear message; the others are done; exit 1")
    func badResults() throws {
        let p = try Project(Self.yaml(reps: "[a, bad, none]", ns: "[1]", extra: "max_restarts: 0"))
        defer { p.remove() }
        let outcome = try p.sweep("run", "sweep.yaml")
        #expect(outcome.status == 1, "\(outcome)")
        let spec = try p.spec()
        let records = try p.records()
        func record(_ rep: String) throws -> UnitRecord {
            let unit = try #require(spec.units.first { $0.value(of: "rep") == .string(rep) })
            return try #require(records[unit.key])
        }
        #expect(try record("a").status == .done)
        let bad = try record("bad")
        #expect(bad.status == .failed)
        #expect(bad.exitCode == 0)
        #expect(bad.errorTail.last?.contains("is not valid JSON") == true, "\(bad.errorTail)")
        let none = try record("none")
        #expect(none.status == .failed)
        let output = try #require(spec.units.first { $0.value(of: "rep") == .string("none") }).resultPath
        #expect(none.errorTail.last == "exited 0 without its result file \(output)", "\(none.errorTail)")
        #expect(outcome.stderr.contains("Progress: 1/3 done, 2 failed."), "\(outcome.stderr)")
        #expect(outcome.stderr.contains("is not valid JSON"), "\(outcome.stderr)")
        #expect(outcome.stderr.contains("log: \(p.sweepDirectory)/logs/\(none.key).log"), "\(outcome.stderr)")
        #expect(p.executions.count == 3)
    }

    @Test("a unit that hangs past its timeout fails as timed out, in bounded time")
    func timeout() throws {
        let p = try Project(Self.yaml(reps: "[a]", ns: "[1]", extra: "timeout: 1\nmax_restarts: 0"))
        defer { p.remove() }
        let start = Date()
        let outcome = try p.sweep("run", "sweep.yaml", "--grace", "2", environment: ["UNIT_SLEEP": "600"], deadline: 60)
        let took = Date().timeIntervalSince(start)
        #expect(!outcome.timedOut && outcome.status == 1, "\(outcome)")
        #expect(took < 30, "took \(took) s")
        let record = try #require(try p.records().values.first)
        #expect(record.status == .failed)
        #expect(record.errorTail.last?.contains("timed out after 1 s") == true, "\(record.errorTail)")
        #expect(outcome.stderr.contains("timed out"), "\(outcome.stderr)")
    }

    @Test("a unit that writes 100 MB of output: the log has it all, the unit is done")
    func bigOutput() throws {
        let p = try Project(
            Self.yaml(reps: "[a]", ns: "[1]", command: "head -c 100000000 /dev/zero | tr '\\0' x && sh unit.sh {rep} {n} {output} {key}"))
        defer { p.remove() }
        let outcome = try p.sweep("run", "sweep.yaml", deadline: 120)
        #expect(outcome.status == 0, "\(outcome)")
        let record = try #require(try p.records().values.first)
        #expect(record.status == .done)
        let attributes = try FileManager.default.attributesOfItem(atPath: p.sweepDirectory + "/logs/\(record.key).log")
        let size = (attributes[.size] as? NSNumber)?.intValue ?? 0
        #expect(size >= 100_000_000 && size < 100_001_000, "log size \(size)")
    }

    @Test("a unit failing its first attempt is started again (retries: 1) and is done with 2 attempts")
    func retries() throws {
        let p = try Project(
            Self.yaml(
                reps: "[a, b]", ns: "[1]", extra: "retries: 1\nmax_restarts: 0",
                command: "if [ {rep} = a ] && [ ! -e marker ]; then touch marker; echo boom >&2; exit 3; fi; sh unit.sh {rep} {n} {output} {key}"))
        defer { p.remove() }
        let outcome = try p.sweep("run", "sweep.yaml")
        #expect(outcome.status == 0, "\(outcome)")
        #expect(outcome.stderr.contains("starting it again (attempt 2)"), "\(outcome.stderr)")
        let spec = try p.spec()
        let records = try p.records()
        let a = try #require(records[spec.units[0].key])
        #expect(a.status == .done)
        #expect(a.attempts == 2)
        #expect(try #require(records[spec.units[1].key]).attempts == 1)
        let log = p.read("runs/sweeps/s/logs/\(a.key).log")
        #expect(log.contains("attempt 1,") && log.contains("attempt 2,") && log.contains("boom"), "\(log)")
    }

    @Test("two sweep runs started together share the units: each runs exactly once, both exit 0")
    func twoRunners() throws {
        let p = try Project(Self.yaml(reps: "[a, b, c, d]", ns: "[1, 2]"))
        defer { p.remove() }
        let first = try p.start(environment: ["UNIT_SLEEP": "0.3"])
        let second = try p.start(environment: ["UNIT_SLEEP": "0.3"])
        let a = first.wait(deadline: 120)
        let b = second.wait(deadline: 120)
        #expect(a.status == 0, "\(a)")
        #expect(b.status == 0, "\(b)")
        let counts = p.executionCounts
        #expect(counts.count == 8 && counts.values.allSatisfy { $0 == 1 }, "\(p.executions)")
        #expect(try p.records().values.allSatisfy { $0.status == .done })
        print("two runners: \(a.stderr.components(separatedBy: "done    ").count - 1) and \(b.stderr.components(separatedBy: "done    ").count - 1) units")
    }

    @Test("SIGTERM stops the running units (exit 75, interrupted); the next run resumes them as attempt 2 and finishes")
    func sigterm() throws {
        let p = try Project(Self.yaml(reps: "[a, b]", ns: "[1, 2]"))
        defer { p.remove() }
        let process = try p.start(["--grace", "5"], environment: ["UNIT_SLEEP": "3"])
        let deadline = Date().addingTimeInterval(30)
        while p.executions.count < 2 && Date() < deadline { usleep(20_000) }
        usleep(200_000)
        process.signal(SIGTERM)
        let stopped = process.wait(deadline: 30)
        #expect(stopped.status == 75, "\(stopped)")
        #expect(stopped.stderr.contains("stopped by SIGTERM"), "\(stopped.stderr)")
        let records = try p.records()
        let interrupted = records.values.filter { $0.status == .interrupted }
        #expect(interrupted.count == 2, "\(records.values.map(\.status))")
        #expect(records.values.allSatisfy { $0.status != .done })

        let again = try p.sweep("run", "sweep.yaml")
        #expect(again.status == 0, "\(again)")
        #expect(again.stderr.contains("2 interrupted units"), "\(again.stderr)")
        for record in interrupted {
            #expect(p.executions.contains("\(record.key) 2"), "\(p.executions)")
        }
        #expect(try p.records().values.allSatisfy { $0.status == .done })
    }

    @Test("--dry-run prints the plan and runs nothing; --json prints the plan and the end summary")
    func dryRunAndJSON() throws {
        let p = try Project(Self.yaml(reps: "[a, bad]", ns: "[1]", extra: "max_restarts: 0"))
        defer { p.remove() }
        let dry = try p.sweep("run", "sweep.yaml", "--dry-run")
        #expect(dry.status == 0, "\(dry)")
        #expect(dry.stdout.contains("KEY") && dry.stdout.contains("rep=a n=1") && dry.stdout.contains("new"), "\(dry.stdout)")
        #expect(dry.stdout.contains("Running all 2 units."), "\(dry.stdout)")
        #expect(p.executions.isEmpty)

        let dryJSON = try p.sweep("run", "sweep.yaml", "--dry-run", "--json")
        let plan = try TestSupport.json(dryJSON.stdout)
        #expect(plan["to_run"] == .int(2))
        #expect(plan["sweep"] == .string("s"))
        guard case .array(let units)? = plan["units"] else { Issue.record("no units: \(dryJSON.stdout)"); return }
        #expect(units.count == 2)
        #expect(units.first?["action"] == .string("run") && units.first?["reason"] == .string("new") && units.first?["status"] == .string("pending"))
        #expect(units.first?["params"] == .object(["rep": .string("a"), "n": .int(1)]))

        let run = try p.sweep("run", "sweep.yaml", "--json")
        #expect(run.status == 1, "\(run)")
        let summary = try TestSupport.json(run.stdout)
        #expect(summary["exit_code"] == .int(1))
        #expect(summary["total"] == .int(2) && summary["done"] == .int(1) && summary["failed"] == .int(1))
        guard case .array(let ran)? = summary["ran"], case .array(let failed)? = summary["failed_units"] else {
            Issue.record("\(run.stdout)")
            return
        }
        #expect(ran.count == 2)
        #expect(failed.count == 1 && failed.first?["params"] == .object(["rep": .string("bad"), "n": .int(1)]))

        let after = try TestSupport.json(try p.sweep("run", "sweep.yaml", "--dry-run", "--json").stdout)
        #expect(after["to_run"] == .int(0))
    }

    @Test("a malformed sweep file is refused before anything runs (64)")
    func badFile() throws {
        let p = try Project(Self.yaml(extra: "colour: blue"))
        defer { p.remove() }
        let outcome = try p.sweep("run", "sweep.yaml")
        #expect(outcome.status == 64, "\(outcome)")
        #expect(p.executions.isEmpty)
    }
}
