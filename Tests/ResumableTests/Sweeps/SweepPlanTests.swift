import Foundation
import Resumable
import Testing

/// What `sweep run` will do: every unit run or skipped with one reason, the
/// counts, the opening line, and records that are no longer in the sweep.
@Suite("Sweeps: the plan")
struct SweepPlanTests {
    /// 9 representations × 2 layer sets: the 18-unit ablation.
    static let ablation = """
        name: ablation
        run: runs/ablation
        command: python3 experiment.py --rep {rep} --layers {layers} --out {output}
        matrix:
          rep: [r1, r2, r3, r4, r5, r6, r7, r8, r9]
          layers: [all, visual]
        retries: 1
        """

    func done(_ unit: SweepUnit) -> UnitRecord {
        var record = UnitRecord(unit: unit)
        record.markStarted()
        record.markDone(result: .json(["accuracy": 0.9]))
        return record
    }

    func failed(_ unit: SweepUnit, attempts: Int) -> UnitRecord {
        var record = UnitRecord(unit: unit)
        for _ in 0..<attempts {
            record.markStarted()
            record.markFailed(exitCode: 2, errorTail: ["boom"])
        }
        return record
    }

    @Test("one reason per unit: done, failed with and without retries left, running, interrupted, new, reopened, damaged; stale records listed")
    func reasons() throws {
        let fixture = try SweepFixture(yaml: Self.ablation)
        defer { fixture.remove() }
        let spec = try fixture.spec()
        let store = SweepStore(spec: spec)
        let u = spec.units
        try store.save(done(u[0]))
        try store.save(failed(u[1], attempts: 1))
        try store.save(failed(u[2], attempts: 2))
        var running = UnitRecord(unit: u[3])
        running.markStarted()
        try store.save(running)
        var gone = UnitRecord(unit: u[4])
        gone.markStarted()
        let dead = try TestProcess("/bin/true", [])
        let deadPid = dead.pid
        dead.wait()
        gone.owner = StageOwner(pid: deadPid, host: RunLock.hostName(), bootID: RunLock.bootID(), startTicks: 1)
        try store.save(gone)
        var remote = UnitRecord(unit: u[5])
        remote.markStarted()
        remote.owner = StageOwner(pid: 77, host: "node-17", bootID: "", startTicks: 5)
        try store.save(remote)
        var reopened = done(u[6])
        reopened.reopen()
        try store.save(reopened)
        var stopped = UnitRecord(unit: u[7])
        stopped.markStarted()
        stopped.markInterrupted()
        try store.save(stopped)
        try Data("not json".utf8).write(to: URL(fileURLWithPath: store.recordPath(u[8].key)))
        // A record from an earlier version of the sweep.
        let old = try SweepFixture.parse(Self.ablation.replacingOccurrences(of: "--out {output}", with: "--output {output}"))
        try store.save(done(old.units[0]))

        let plan = try SweepPlan.make(spec: spec, store: store)
        let steps = plan.steps
        #expect(steps.count == 18)
        #expect(steps.map(\.unit) == spec.units)
        func check(_ i: Int, _ action: SweepPlan.Action, _ reason: String, _ status: UnitStatus?) {
            #expect(steps[i].action == action, "\(i): \(steps[i].reason)")
            #expect(steps[i].reason == reason || (reason.hasSuffix("…") && steps[i].reason.hasPrefix(String(reason.dropLast()))), "\(i): \(steps[i].reason)")
            #expect(steps[i].status == status, "\(i)")
        }
        check(0, .skip, "done", .done)
        check(1, .run, "retry 1 of 1", .failed)
        check(2, .skip, "failed twice, last with exit 2; `sweep rerun --failed` to try again", .failed)
        check(3, .skip, "running in pid \(getpid()) on \(RunLock.hostName())", .running)
        check(4, .run, "interrupted (attempt 1); resumes", .interrupted)
        check(5, .skip, "running in pid 77 on node-17", .running)
        check(6, .run, "reopened", .pending)
        check(7, .run, "interrupted (attempt 1); resumes", .interrupted)
        check(8, .skip, "record damaged, left alone: \(store.recordPath(u[8].key)) is not valid JSON…", nil)
        for i in 9..<18 { check(i, .run, "new", .pending) }

        #expect(plan.finished == 1 && plan.failed == 1 && plan.retrying == 1 && plan.running == 2 && plan.interrupted == 2 && plan.damaged == 1)
        #expect(plan.toRun == 13)
        #expect(plan.unitsToRun.map(\.key) == steps.filter { $0.action == .run }.map(\.unit.key))
        #expect(plan.stale.map(\.key) == [old.units[0].key])
        #expect(
            plan.summary
                == "Found 1 finished unit, 1 failed unit with no retries left (`sweep rerun --failed` starts it again), 1 failed unit to retry, 2 interrupted units, 2 running in another process and 1 with a damaged record (left alone); running the 13 that remain. 1 unit recorded earlier is no longer in the sweep (its record is kept)."
        )
        // Nothing was written or removed by planning.
        #expect(try store.records().count == 10)
    }

    @Test("the opening line: none finished, some finished, all finished, only failed ones left")
    func summaries() throws {
        let fixture = try SweepFixture(yaml: Self.ablation)
        defer { fixture.remove() }
        let spec = try fixture.spec()
        let store = SweepStore(spec: spec)
        #expect(try SweepPlan.make(spec: spec, store: store).summary == "Running all 18 units.")

        for unit in spec.units.prefix(3) { try store.save(done(unit)) }
        let some = try SweepPlan.make(spec: spec, store: store)
        #expect(some.summary == "Found 3 finished units; running the 15 that remain.")
        #expect(some.finished == 3 && some.toRun == 15)

        for unit in spec.units.dropFirst(3).dropLast() { try store.save(done(unit)) }
        #expect(try SweepPlan.make(spec: spec, store: store).summary == "Found 17 finished units; running the one that remains.")

        try store.save(failed(spec.units[17], attempts: 2))
        let stuck = try SweepPlan.make(spec: spec, store: store)
        #expect(stuck.toRun == 0 && stuck.failed == 1)
        #expect(
            stuck.summary
                == "Nothing to run: found 17 finished units and 1 failed unit with no retries left (`sweep rerun --failed` starts it again).")

        try store.save(done(spec.units[17]))
        let all = try SweepPlan.make(spec: spec, store: store)
        #expect(all.summary == "All 18 units are finished; nothing to run.")
        #expect(all.unitsToRun.isEmpty)

        // Growing the matrix: the finished units stay finished, only the new ones run.
        let grown = try SweepFixture.parse(Self.ablation.replacingOccurrences(of: "[all, visual]", with: "[all, visual, audio]"), base: fixture.directory)
        let plan = try SweepPlan.make(spec: grown, store: store)
        #expect(plan.summary == "Found 18 finished units; running the 9 that remain.")
        #expect(plan.unitsToRun.allSatisfy { $0.value(of: "layers") == .string("audio") })
    }

    @Test("a changed command makes every unit new and lists the old records as stale, never deleting them")
    func changedCommand() throws {
        let fixture = try SweepFixture(yaml: Self.ablation)
        defer { fixture.remove() }
        let spec = try fixture.spec()
        let store = SweepStore(spec: spec)
        for unit in spec.units { try store.save(done(unit)) }
        let changed = try SweepFixture.parse(Self.ablation.replacingOccurrences(of: "python3", with: "python3 -u"), base: fixture.directory)
        let plan = try SweepPlan.make(spec: changed, store: store)
        #expect(plan.toRun == 18 && plan.finished == 0)
        #expect(plan.steps.allSatisfy { $0.reason == "new" })
        #expect(plan.stale.count == 18)
        #expect(plan.summary == "Running all 18 units. 18 units recorded earlier are no longer in the sweep (their records are kept).")
        #expect(try store.records().count == 18)
    }
}
