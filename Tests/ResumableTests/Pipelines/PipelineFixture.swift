import Foundation
import Resumable

/// A pipeline in a temporary directory: the file, a data input, and helpers
/// to make a stage look completed in the ledger.
struct PipelineFixture {
    let directory: String
    var file: String { directory + "/pipeline.yaml" }
    var run: String { directory + "/runs/demo" }

    static let yaml = """
        name: demo
        run: runs/demo
        preflight:
          - name: python
            command: ["python3", "-c", "import sys"]
        stages:
          - name: operator
            command: python train.py --stage {name} --out {stage_dir} --run {run}
            inputs: [data/train.csv, data/extra]
            outputs: [stages/operator/operator_ema.pt]
            env: {LR: "0.01", TAG: "{name}"}
            max_restarts: 3
          - name: diff_residual
            needs: [operator]
            command: ["python", "train.py", "--stage", "{name}", "--shell", "${HOME}"]
            outputs: [stages/diff_residual/model.pt]
            retries: 2
          - name: steady_prior
            needs: [operator]
            optional: true
            command: echo prior > {stage_dir}/prior.txt
            outputs: [stages/steady_prior/prior.txt]
          - name: evaluate
            needs: [operator, diff_residual]
            command: python evaluate.py --out {run}/reports | awk '{print $1}'
        """

    init(yaml: String = PipelineFixture.yaml) throws {
        directory = TestSupport.temporaryDirectory("pipeline")
        try FileManager.default.createDirectory(atPath: directory + "/data/extra/sub", withIntermediateDirectories: true)
        try write("data/train.csv", "x,y\n1,2\n")
        try write("data/extra/a.txt", "a")
        try write("data/extra/sub/b.txt", "b")
        try write("pipeline.yaml", yaml)
    }

    func write(_ relative: String, _ text: String) throws {
        let path = directory + "/" + relative
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    }

    func spec() throws -> PipelineSpec { try PipelineSpec.load(path: file) }

    /// Runs `stage` "for real" in the ledger: writes its outputs with `content`, records it completed.
    func complete(_ stage: String, in ledger: inout StageLedger, content: String = "weights") throws {
        let spec = try spec()
        let s = spec.stage(named: stage)!
        var record = ledger.record(stage)
        record.markStarted(fingerprint: try StageFingerprint.current(of: s, in: spec, ledger: ledger))
        for output in s.outputs { try write("runs/demo/" + output, content + " of " + stage) }
        let measured = try StageOutput.measure(s.outputs, runDirectory: spec.runDirectory)
        record.markCompleted(outputs: measured.outputs)
        ledger.stages[stage] = record
    }

    func completeAll(_ ledger: inout StageLedger) throws {
        for stage in try spec().stages { try complete(stage.name, in: &ledger) }
    }

    func remove() { try? FileManager.default.removeItem(atPath: directory) }
}
