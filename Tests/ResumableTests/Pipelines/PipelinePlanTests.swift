import Foundation
import Resumable
import Testing

@Suite("Pipelines: the plan")
struct PipelinePlanTests {
    func reasons(_ plan: PipelinePlan) -> [String: String] {
        Dictionary(uniqueKeysWithValues: plan.steps.map { ($0.stage, "\($0.action.rawValue): \($0.reason)") })
    }

    @Test("a fresh pipeline runs everything; a finished one nothing")
    func freshAndDone() throws {
        let f = try PipelineFixture()
        defer { f.remove() }
        var ledger = StageLedger()
        let fresh = try PipelinePlan.make(spec: f.spec(), ledger: ledger)
        #expect(fresh.stagesToRun == ["operator", "diff_residual", "steady_prior", "evaluate"])
        #expect(fresh.steps.allSatisfy { $0.reason == "not started" })
        try f.completeAll(&ledger)
        let done = try PipelinePlan.make(spec: f.spec(), ledger: ledger)
        #expect(done.stagesToRun == [])
        #expect(done.steps.allSatisfy { $0.reason == "up to date" }, "\(reasons(done))")
    }

    @Test("one byte of an input reruns exactly that stage and its downstream, each with its reason")
    func inputChange() throws {
        let f = try PipelineFixture()
        defer { f.remove() }
        var ledger = StageLedger()
        try f.completeAll(&ledger)
        try f.write("data/train.csv", "x,y\n1,3\n")
        let plan = try PipelinePlan.make(spec: f.spec(), ledger: ledger)
        #expect(plan.stagesToRun == ["operator", "diff_residual", "steady_prior", "evaluate"])
        let r = reasons(plan)
        #expect(r["operator"] == "run: input data/train.csv changed")
        #expect(r["diff_residual"] == "run: upstream operator re-runs")
        #expect(r["evaluate"] == "run: upstream operator re-runs")
    }

    @Test("a changed output, a failed stage and an interrupted one are run, with their reasons")
    func statuses() throws {
        let f = try PipelineFixture()
        defer { f.remove() }
        var ledger = StageLedger()
        try f.completeAll(&ledger)
        try f.write("runs/demo/stages/diff_residual/model.pt", "tampered")
        ledger.stages["steady_prior"]?.markFailed(exitCode: 2, errorTail: ["boom"])
        var plan = try PipelinePlan.make(spec: f.spec(), ledger: ledger)
        var r = reasons(plan)
        #expect(r["operator"] == "skip: up to date")
        #expect(r["diff_residual"] == "run: output stages/diff_residual/model.pt changed")
        #expect(r["steady_prior"] == "run: failed last time (exit 2)")
        #expect(r["evaluate"] == "run: upstream diff_residual re-runs")

        ledger.stages["steady_prior"]?.markStarted(fingerprint: plan.steps[2].fingerprint)
        ledger.stages["steady_prior"]?.owner?.pid = Int32.max  // no such process
        plan = try PipelinePlan.make(spec: f.spec(), ledger: ledger)
        r = reasons(plan)
        #expect(r["steady_prior"] == "run: interrupted (attempt 2); resumes")
    }

    @Test("--only runs the selection; missing upstream outputs are named")
    func only() throws {
        let f = try PipelineFixture()
        defer { f.remove() }
        var ledger = StageLedger()
        #expect {
            try PipelinePlan.make(spec: f.spec(), ledger: ledger, options: PlanOptions(only: ["evaluate"]))
        } throws: { error in
            let e = error as! ResumableError
            return e.exitCode == 64 && e.message.contains("stage operator is not_started (needed by evaluate)")
                && e.message.contains("stage diff_residual is not_started")
        }
        try f.completeAll(&ledger)
        ledger.stages["evaluate"] = StageRecord()
        let plan = try PipelinePlan.make(spec: f.spec(), ledger: ledger, options: PlanOptions(only: ["evaluate"]))
        #expect(plan.stagesToRun == ["evaluate"])
        #expect(reasons(plan)["operator"] == "skip: not selected (--only)")

        try FileManager.default.removeItem(atPath: f.run + "/stages/operator/operator_ema.pt")
        #expect {
            try PipelinePlan.make(spec: f.spec(), ledger: ledger, options: PlanOptions(only: ["evaluate"]))
        } throws: { error in
            (error as! ResumableError).message.contains("stages/operator/operator_ema.pt (from operator, needed by evaluate)")
        }
    }

    @Test("--from reruns that stage and its downstream, even when up to date")
    func from() throws {
        let f = try PipelineFixture()
        defer { f.remove() }
        var ledger = StageLedger()
        try f.completeAll(&ledger)
        let plan = try PipelinePlan.make(spec: f.spec(), ledger: ledger, options: PlanOptions(from: "diff_residual"))
        #expect(plan.stagesToRun == ["diff_residual", "evaluate"])
        let r = reasons(plan)
        #expect(r["diff_residual"] == "run: --from diff_residual")
        #expect(r["evaluate"] == "run: downstream of --from diff_residual")
        #expect(r["operator"] == "skip: not selected (--from)")
    }

    @Test("--skip leaves optional stages out and refuses required ones; unknown names refused")
    func skip() throws {
        let f = try PipelineFixture()
        defer { f.remove() }
        let ledger = StageLedger()
        let plan = try PipelinePlan.make(spec: f.spec(), ledger: ledger, options: PlanOptions(skip: ["steady_prior"]))
        #expect(plan.stagesToRun == ["operator", "diff_residual", "evaluate"])
        #expect(reasons(plan)["steady_prior"] == "skip: skipped (--skip)")
        for options in [PlanOptions(skip: ["operator"]), PlanOptions(only: ["nope"]), PlanOptions(only: ["evaluate"], from: "operator")] {
            #expect(throws: ResumableError.self) { try PipelinePlan.make(spec: f.spec(), ledger: ledger, options: options) }
        }
    }

    @Test("reset marks stages and everything downstream not_started")
    func reset() throws {
        let f = try PipelineFixture()
        defer { f.remove() }
        var ledger = StageLedger()
        try f.completeAll(&ledger)
        let reset = try ledger.reset(["diff_residual"], in: f.spec())
        #expect(reset == ["diff_residual", "evaluate"])
        #expect(ledger.record("operator").status == .completed)
        #expect(ledger.record("steady_prior").status == .completed)
        #expect(ledger.record("diff_residual") == StageRecord())
        #expect(ledger.record("evaluate").status == .notStarted)
        #expect(try PipelinePlan.make(spec: f.spec(), ledger: ledger).stagesToRun == ["diff_residual", "evaluate"])
        #expect(try ledger.reset(["operator"], in: f.spec()) == ["operator", "diff_residual", "steady_prior", "evaluate"])
        #expect(throws: ResumableError.self) { try ledger.reset(["nope"], in: f.spec()) }
    }
}
