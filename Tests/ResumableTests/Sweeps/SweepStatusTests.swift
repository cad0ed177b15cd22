import Foundation
import Resumable
import Testing

/// `SweepStatus`: counts, counts by parameter, failed units with the end of
/// their logs (read bounded), running units with Slurm states, interrupted,
/// stale and damaged records.
@Suite("Sweeps: status")
struct SweepStatusTests {
    static let yaml = """
        name: ablation
        run: runs
        command: run --rep {rep} --layers {layers} --out {output}
        matrix:
          rep: [a, b, c]
          layers: [all, visual]
        include:
          - {rep: d, layers: all, seed: 7}
        """

    static func done(_ unit: SweepUnit, _ result: UnitResult = .json(["acc": 0.9])) -> UnitRecord {
        var record = UnitRecord(unit: unit)
        record.markStarted()
        record.markDone(result: result)
        return record
    }

    static func failed(_ unit: SweepUnit, exit: Int32 = 3, attempts: Int = 1) -> UnitRecord {
        var record = UnitRecord(unit: unit)
        for _ in 0..<attempts {
            record.markStarted()
            record.markFailed(exitCode: exit, errorTail: ["tail from the record"])
        }
        return record
    }

    /// A pid no process has.
    static func deadPid() throws -> Int32 {
        let dead = try TestProcess("/bin/true", [])
        let pid = dead.pid
        dead.wait()
        return pid
    }

    /// a/all done, a/visual failed (with a log), b/all running here, b/visual running
    /// on a Slurm node, c/all interrupted (owner gone), c/visual pending, d damaged;
    /// one stale record.
    static func mixed(_ fixture: SweepFixture) throws -> SweepSpec {
        let spec = try fixture.spec()
        let store = SweepStore(spec: spec)
        let u = spec.units
        #expect(u.count == 7)
        try store.save(done(u[0]))
        try store.save(failed(u[1], exit: 2, attempts: 2))
        try FileManager.default.createDirectory(atPath: store.logsDirectory, withIntermediateDirectories: true)
        let log = (1...40).map { "line \($0)" }.joined(separator: "\n") + "\nValueError: \u{1B}[31mbad\u{1B}[0m\n\n"
        try Data(log.utf8).write(to: URL(fileURLWithPath: store.logPath(u[1].key)))
        var live = UnitRecord(unit: u[2])
        live.markStarted()
        try store.save(live)
        var remote = UnitRecord(unit: u[3])
        remote.markStarted(slurm: SlurmTask(jobID: "4711", arrayTaskID: 3))
        remote.owner = StageOwner(pid: 77, host: "node-17", bootID: "", startTicks: 5)
        try store.save(remote)
        var gone = UnitRecord(unit: u[4])
        gone.markStarted()
        gone.owner = StageOwner(pid: try deadPid(), host: RunLock.hostName(), bootID: RunLock.bootID(), startTicks: 1)
        try store.save(gone)
        try Data("{not json".utf8).write(to: URL(fileURLWithPath: store.recordPath(u[6].key)))
        let old = try SweepFixture.parse(yaml.replacingOccurrences(of: "--out", with: "--output"))
        try store.save(done(old.units[0]))
        return spec
    }

    @Test("counts: done, failed, running (live or remote), interrupted (owner gone), pending, damaged; stale and damaged records")
    func counts() throws {
        let fixture = try SweepFixture(yaml: Self.yaml)
        defer { fixture.remove() }
        let spec = try Self.mixed(fixture)
        let status = try SweepStatus.make(spec: spec, slurm: nil)
        let c = status.counts
        #expect([c.done, c.failed, c.running, c.interrupted, c.pending, c.damaged] as [Int] == [1, 1, 2, 1, 1, 1])
        #expect(status.progressLine == "Progress: 1/7 done, 1 failed, 2 running, 1 interrupted, 1 damaged, 1 pending")
        #expect(status.units.map(\.unit) == spec.units)
        #expect(status.staleKeys.count == 1)
        #expect(status.damaged.map(\.key) == [spec.units[6].key])
        #expect(status.damaged[0].inSweep)
        #expect(status.damaged[0].reason.contains("not valid JSON"))
        #expect(status.interrupted.map(\.unit.key) == [spec.units[4].key])
        #expect(status.running.map(\.unit.key) == [spec.units[2].key, spec.units[3].key])
        #expect(status.running[1].slurmState == nil)
    }

    @Test("by parameter: the matrix's values in order, include-only values after, units without the parameter as unset")
    func byParameter() throws {
        let fixture = try SweepFixture(yaml: Self.yaml)
        defer { fixture.remove() }
        let status = try SweepStatus.make(spec: try Self.mixed(fixture), slurm: nil)
        #expect(status.parameters.map(\.name) == ["rep", "layers", "seed"])
        let rep = status.parameters[0].values
        #expect(rep.map(\.value) == [.string("a"), .string("b"), .string("c"), .string("d")])
        #expect(rep[0].counts.done == 1 && rep[0].counts.failed == 1 && rep[0].counts.total == 2)
        #expect(rep[1].counts.running == 2)
        #expect(rep[2].counts.interrupted == 1 && rep[2].counts.pending == 1)
        #expect(rep[3].counts.damaged == 1)
        let layers = status.parameters[1].values
        #expect(layers.map(\.value) == [.string("all"), .string("visual")])
        #expect(layers[0].counts.total == 4 && layers[1].counts.total == 3)
        let seed = status.parameters[2].values
        #expect(seed.map(\.value) == [.int(7), nil])
        #expect(seed[0].counts.damaged == 1 && seed[1].counts.total == 6)
    }

    @Test("a failed unit: exit code, attempts, log path and its last 5 non-blank lines, as written")
    func failedUnit() throws {
        let fixture = try SweepFixture(yaml: Self.yaml)
        defer { fixture.remove() }
        let spec = try Self.mixed(fixture)
        let status = try SweepStatus.make(spec: spec, slurm: nil)
        let failure = try #require(status.failures.first)
        #expect(status.failures.count == 1)
        #expect(failure.unit.key == spec.units[1].key)
        #expect(failure.record.exitCode == 2 && failure.record.attempts == 2)
        #expect(failure.logPath == spec.sweepDirectory + "/logs/\(spec.units[1].key).log")
        #expect(failure.logTail == ["line 37", "line 38", "line 39", "line 40", "ValueError: \u{1B}[31mbad\u{1B}[0m"])
        #expect(failure.logProblem == nil)
    }

    @Test("the log tail reads only the end of a large log, marks a cut line, cuts long lines, refuses links and FIFOs")
    func logTailBounded() throws {
        let dir = TestSupport.temporaryDirectory("sweep-tail")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // 20 MB of log: far more than is read.
        let path = dir + "/big.log"
        #expect(FileManager.default.createFile(atPath: path, contents: nil))
        let handle = try #require(FileHandle(forWritingAtPath: path))
        let block = Data(String(repeating: "x", count: 1023).appending("\n").utf8)
        for _ in 0..<(20 << 10) { handle.write(block) }
        handle.write(Data("last\r\n".utf8))
        try handle.close()
        let tail = try SweepStatus.logTail(path: path, lines: 5, maxBytes: 4096)
        #expect(tail.count == 5)
        #expect(tail.last == "last")
        #expect(tail.first!.hasPrefix("…x"))
        #expect(tail[1].count == SweepStatus.logLineWidth + 1 && tail[1].hasSuffix("…"))

        // A log shorter than the read: every line whole.
        try Data("one\ntwo\n".utf8).write(to: URL(fileURLWithPath: dir + "/short.log"))
        #expect(try SweepStatus.logTail(path: dir + "/short.log") == ["one", "two"])
        // Invalid UTF-8 is replaced, not refused.
        try Data([0x61, 0xFF, 0x62, 0x0A]).write(to: URL(fileURLWithPath: dir + "/bad.log"))
        #expect(try SweepStatus.logTail(path: dir + "/bad.log") == ["a\u{FFFD}b"])

        try FileManager.default.createSymbolicLink(atPath: dir + "/link.log", withDestinationPath: dir + "/short.log")
        #expect(SweepFixture.catching { _ = try SweepStatus.logTail(path: dir + "/link.log") }?.exitCode == 65)
        #expect(mkfifo(dir + "/fifo.log", 0o644) == 0)
        #expect(SweepFixture.catching { _ = try SweepStatus.logTail(path: dir + "/fifo.log") }?.exitCode == 65)
        #expect(SweepFixture.catching { _ = try SweepStatus.logTail(path: dir + "/missing.log") }?.exitCode == 66)
    }

    @Test("a failed unit without a log says why and keeps the record's error tail")
    func missingLog() throws {
        let fixture = try SweepFixture(yaml: Self.yaml)
        defer { fixture.remove() }
        let spec = try fixture.spec()
        try SweepStore(spec: spec).save(Self.failed(spec.units[0]))
        let status = try SweepStatus.make(spec: spec, slurm: nil)
        let failure = try #require(status.failures.first)
        #expect(failure.logTail.isEmpty)
        #expect(failure.logProblem != nil)
        #expect(failure.record.errorTail == ["tail from the record"])
    }

    /// A fake `squeue` that logs its arguments and answers from a script.
    static func fakeSqueue(_ dir: String, _ body: String) throws -> String {
        let path = dir + "/squeue"
        try Data("#!/bin/sh\necho \"$@\" >> \(dir)/squeue.args\n\(body)\n".utf8).write(to: URL(fileURLWithPath: path))
        chmod(path, 0o755)
        return path
    }

    @Test("Slurm: one squeue per job with -h -r -j JOB -o '%i %T'; array task states; jobs no longer queued")
    func slurmStates() throws {
        let fixture = try SweepFixture(yaml: Self.yaml)
        defer { fixture.remove() }
        let spec = try fixture.spec()
        let store = SweepStore(spec: spec)
        for (i, task) in [SlurmTask(jobID: "4711", arrayTaskID: 3), SlurmTask(jobID: "4711", arrayTaskID: 4), SlurmTask(jobID: "99")].enumerated() {
            var r = UnitRecord(unit: spec.units[i])
            r.markStarted(slurm: task)
            r.owner = StageOwner(pid: 77, host: "node-17", bootID: "", startTicks: 5)
            try store.save(r)
        }
        let squeue = try Self.fakeSqueue(
            fixture.directory,
            "case \"$4\" in 4711) printf '4711_3 RUNNING\\n4711_4 PENDING\\n';; *) echo 'slurm_load_jobs error: Invalid job id specified' >&2; exit 1;; esac")
        let status = try SweepStatus.make(spec: spec, slurm: SlurmQueue(program: squeue))
        #expect(status.running.map(\.slurmState) == ["RUNNING", "PENDING", "NOT_IN_QUEUE"])
        #expect(status.slurmProblem == nil)
        let args = try String(contentsOfFile: fixture.directory + "/squeue.args", encoding: .utf8)
        #expect(args == "-h -r -j 4711 -o %i %T\n-h -r -j 99 -o %i %T\n")
    }

    @Test("Slurm: a hung squeue is stopped at the timeout; the ids are still shown, the problem said")
    func slurmTimeout() throws {
        let fixture = try SweepFixture(yaml: Self.yaml)
        defer { fixture.remove() }
        let spec = try fixture.spec()
        var r = UnitRecord(unit: spec.units[0])
        r.markStarted(slurm: SlurmTask(jobID: "12"))
        r.owner = StageOwner(pid: 77, host: "node-17", bootID: "", startTicks: 5)
        try SweepStore(spec: spec).save(r)
        let squeue = try Self.fakeSqueue(fixture.directory, "sleep 30")
        let start = Date()
        let status = try SweepStatus.make(spec: spec, slurm: SlurmQueue(program: squeue, timeout: 0.5))
        #expect(Date().timeIntervalSince(start) < 5)
        #expect(status.running.first?.slurmState == nil)
        #expect(status.slurmProblem?.contains("did not answer within") == true)
        // Not installed: nothing asked, no problem.
        let none = try SweepStatus.make(spec: spec, slurm: SlurmQueue(program: fixture.directory + "/no-such-squeue"))
        #expect(none.running.first?.slurmState == nil)
    }

    @Test("JSON: counts, parameters, failed with log tails, running with slurm, stale, damaged, every unit")
    func json() throws {
        let fixture = try SweepFixture(yaml: Self.yaml)
        defer { fixture.remove() }
        let spec = try Self.mixed(fixture)
        let json = try SweepStatus.make(spec: spec, slurm: nil).json
        #expect(json["schema_version"] == 1)
        #expect(json["total"] == 7)
        #expect(json["counts"]?["interrupted"] == 1)
        #expect(json["parameters"]?.arrayValue?.count == 3)
        #expect(json["parameters"]?.arrayValue?[2]["values"]?.arrayValue?.last?["value"] == .null)
        #expect(json["failed"]?.arrayValue?.first?["log_tail"]?.arrayValue?.count == 5)
        #expect(json["failed"]?.arrayValue?.first?["exit_code"] == 2)
        #expect(json["running"]?.arrayValue?[1]["slurm"]?["job_id"] == "4711")
        #expect(json["running"]?.arrayValue?[1]["slurm"]?["array_task_id"] == 3)
        #expect(json["stale"]?["count"] == 1)
        #expect(json["damaged"]?.arrayValue?.first?["in_sweep"] == true)
        #expect(json["units"]?.arrayValue?.map { $0["status"]?.stringValue ?? "?" } == ["done", "failed", "running", "running", "interrupted", "pending", "damaged"])
    }

    @Test("an empty sweep directory: every unit pending")
    func nothingYet() throws {
        let fixture = try SweepFixture(yaml: Self.yaml)
        defer { fixture.remove() }
        let status = try SweepStatus.make(spec: try fixture.spec(), slurm: nil)
        #expect(status.progressLine == "Progress: 0/7 done, 0 failed, 0 running, 7 pending")
        #expect(status.failures.isEmpty && status.staleKeys.isEmpty && status.damaged.isEmpty)
    }
}
