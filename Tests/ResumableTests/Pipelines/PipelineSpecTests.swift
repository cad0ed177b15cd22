import Foundation
import Resumable
import Testing

@Suite("Pipelines: the pipeline file and fingerprints")
struct PipelineSpecTests {
    @Test("a good file: every field, placeholders substituted, dependency order")
    func goodFile() throws {
        let f = try PipelineFixture()
        defer { f.remove() }
        let spec = try f.spec()
        #expect(spec.name == "demo")
        #expect(spec.run == "runs/demo")
        #expect(spec.runDirectory == f.directory + "/runs/demo")
        #expect(spec.stages.map(\.name) == ["operator", "diff_residual", "steady_prior", "evaluate"])
        let op = try #require(spec.stage(named: "operator"))
        #expect(op.command == .shell("python train.py --stage operator --out runs/demo/stages/operator --run runs/demo"))
        #expect(op.command.argv == ["/bin/sh", "-c", "python train.py --stage operator --out runs/demo/stages/operator --run runs/demo"])
        #expect(op.inputs == ["data/train.csv", "data/extra"])
        #expect(op.outputs == ["stages/operator/operator_ema.pt"])
        #expect(op.env == ["LR": "0.01", "TAG": "operator"])
        #expect(op.maxRestarts == 3 && op.retries == nil && !op.optional)
        #expect(op.location.line == 7 && op.location.column == 5)
        let diff = try #require(spec.stage(named: "diff_residual"))
        #expect(diff.command == .arguments(["python", "train.py", "--stage", "diff_residual", "--shell", "${HOME}"]))
        #expect(diff.needs == ["operator"] && diff.retries == 2)
        #expect(spec.stage(named: "steady_prior")?.optional == true)
        #expect(spec.stage(named: "evaluate")?.command == .shell("python evaluate.py --out runs/demo/reports | awk '{print $1}'"))
        #expect(spec.preflight.map(\.name) == ["python"])
        #expect(spec.preflight.first?.command == .arguments(["python3", "-c", "import sys"]))
        #expect(spec.downstream(of: ["diff_residual"]) == ["diff_residual", "evaluate"])
    }

    @Test("stages are ordered after what they need, whatever the file's order; {{ }} are literal braces")
    func order() throws {
        let yaml = "name: x\nrun: r\nstages:\n  - name: c\n    needs: [b]\n    command: echo {{name}}\n  - name: b\n    needs: [a]\n    command: b\n  - name: a\n    command: a\n"
        let spec = try PipelineSpec.parse(Array(yaml.utf8), file: "p.yaml")
        #expect(spec.stages.map(\.name) == ["a", "b", "c"])
        #expect(spec.stage(named: "c")?.command == .shell("echo {name}"))
    }

    @Test("the fingerprint changes with one byte of an input, the command, the env, an upstream's outputs; each named")
    func fingerprints() throws {
        let f = try PipelineFixture()
        defer { f.remove() }
        var ledger = StageLedger()
        try f.completeAll(&ledger)
        let spec = try f.spec()
        let op = spec.stage(named: "operator")!
        let base = try StageFingerprint.current(of: op, in: spec, ledger: ledger)
        #expect(try StageFingerprint.current(of: op, in: spec, ledger: ledger) == base)
        #expect(base.change(since: base) == nil)
        #expect(base.sha256.count == 64)

        try f.write("data/train.csv", "x,y\n1,3\n")
        var now = try StageFingerprint.current(of: op, in: spec, ledger: ledger)
        #expect(now.sha256 != base.sha256)
        #expect(now.change(since: base) == "input data/train.csv changed")
        try f.write("data/train.csv", "x,y\n1,2\n")

        try f.write("data/extra/sub/b.txt", "c")
        now = try StageFingerprint.current(of: op, in: spec, ledger: ledger)
        #expect(now.change(since: base) == "input data/extra changed")
        try f.write("data/extra/sub/b.txt", "b")
        #expect(try StageFingerprint.current(of: op, in: spec, ledger: ledger) == base)

        try FileManager.default.removeItem(atPath: f.directory + "/data/train.csv")
        #expect(try StageFingerprint.current(of: op, in: spec, ledger: ledger).change(since: base) == "input data/train.csv missing")
        try f.write("data/train.csv", "x,y\n1,2\n")

        var changed = op
        changed.command = .shell("python train.py --lr 2")
        #expect(try StageFingerprint.current(of: changed, in: spec, ledger: ledger).change(since: base) == "command changed")
        changed = op
        changed.env["LR"] = "0.02"
        #expect(try StageFingerprint.current(of: changed, in: spec, ledger: ledger).change(since: base) == "env changed")

        // The upstream's recorded outputs change when it re-runs with other results.
        let diff = spec.stage(named: "diff_residual")!
        let diffBase = try StageFingerprint.current(of: diff, in: spec, ledger: ledger)
        try f.complete("operator", in: &ledger, content: "other weights")
        let diffNow = try StageFingerprint.current(of: diff, in: spec, ledger: ledger)
        #expect(diffNow.change(since: diffBase) == "upstream operator re-ran")
    }

    @Test("an input symlink is not followed: its target text is hashed")
    func symlinkInput() throws {
        let f = try PipelineFixture()
        defer { f.remove() }
        try f.write("elsewhere.csv", "1")
        try FileManager.default.removeItem(atPath: f.directory + "/data/extra/a.txt")
        #expect(symlink(f.directory + "/elsewhere.csv", f.directory + "/data/extra/a.txt") == 0)
        let spec = try f.spec()
        let op = spec.stage(named: "operator")!
        let before = try StageFingerprint.current(of: op, in: spec, ledger: StageLedger())
        try f.write("elsewhere.csv", "2")  // the content behind the link is not read
        #expect(try StageFingerprint.current(of: op, in: spec, ledger: StageLedger()) == before)
    }

    @Test("outputs missing or changed are named")
    func outputs() throws {
        let f = try PipelineFixture()
        defer { f.remove() }
        var ledger = StageLedger()
        try f.complete("operator", in: &ledger)
        let recorded = ledger.record("operator").outputs
        let declared = ["stages/operator/operator_ema.pt"]
        #expect(recorded.first?.bytes == Int64("weights of operator".utf8.count))
        #expect(try StageOutput.change(of: recorded, declared: declared, runDirectory: f.run) == nil)
        try f.write("runs/demo/stages/operator/operator_ema.pt", "weights of operatoR")
        #expect(try StageOutput.change(of: recorded, declared: declared, runDirectory: f.run) == "output stages/operator/operator_ema.pt changed")
        try FileManager.default.removeItem(atPath: f.run + "/stages/operator/operator_ema.pt")
        #expect(try StageOutput.change(of: recorded, declared: declared, runDirectory: f.run) == "output stages/operator/operator_ema.pt missing")
    }
}
