import Foundation
import Resumable
import Testing

/// Examples/pipeline/pipeline.yaml, the file the README walks through, read by the library.
@Suite("Pipelines: the example pipeline file")
struct ExamplePipelineTests {
    static let directory = TestSupport.packageRoot + "/Examples/pipeline"
    static let stages = ["operator", "diff_residual", "consistency_distill", "steady_prior", "evaluate"]

    func spec() throws -> PipelineSpec { try PipelineSpec.load(path: Self.directory + "/pipeline.yaml") }

    @Test("it parses: stages in dependency order, needs, the one optional stage, the run under the repository's runs/")
    func structure() throws {
        let spec = try spec()
        #expect(spec.name == "burgers-example")
        #expect(spec.run == "../../runs/pipeline-example")
        #expect(spec.stages.map(\.name) == Self.stages)
        let needs = Dictionary(uniqueKeysWithValues: spec.stages.map { ($0.name, $0.needs) })
        #expect(needs["operator"] == [])
        #expect(needs["diff_residual"] == ["operator"])
        #expect(needs["consistency_distill"] == ["operator", "diff_residual"])
        #expect(needs["steady_prior"] == ["operator"])
        #expect(needs["evaluate"] == ["operator", "diff_residual", "consistency_distill"])
        #expect(spec.stages.filter(\.optional).map(\.name) == ["steady_prior"])
        #expect(spec.downstream(of: ["diff_residual"]) == ["diff_residual", "consistency_distill", "evaluate"])
        #expect(spec.downstream(of: ["steady_prior"]) == ["steady_prior"])
        #expect(spec.preflight.map(\.name) == ["numpy imports", "resumable package imports", "configs present"])
    }

    @Test("every stage runs stage.py NAME into its stage directory, with existing inputs and PYTHONPATH to the package")
    func stagesAreConsistent() throws {
        let spec = try spec()
        let files = FileManager.default
        #expect(files.fileExists(atPath: Self.directory + "/../../python/resumable/__init__.py"))
        for stage in spec.stages {
            guard case .shell(let line) = stage.command else {
                Issue.record("\(stage.name): expected a shell command")
                continue
            }
            #expect(line.hasPrefix("${PYTHON:-python3} stage.py \(stage.name) --out ../../runs/pipeline-example/stages/\(stage.name)"))
            #expect(!line.contains("\n"))
            #expect(!line.contains("{run}") && !line.contains("{stage_dir}") && !line.contains("{name}"))
            for need in stage.needs {  // the command is given the output of every stage it needs
                let output = try #require(spec.stage(named: need)?.outputs.first)
                #expect(line.contains(" ../../runs/pipeline-example/\(output)"), "\(stage.name) is not given \(output)")
            }
            #expect(stage.inputs.contains("configs/\(stage.name).json"))
            for input in stage.inputs {
                #expect(files.fileExists(atPath: Self.directory + "/" + input), "\(stage.name): input \(input) missing")
            }
            #expect(stage.outputs.count == 1)
            #expect(stage.outputs.allSatisfy { $0.hasPrefix("stages/\(stage.name)/") })
            #expect(stage.env == ["PYTHONPATH": "../../python"])
        }
    }

    @Test("the plan: everything runs on a fresh ledger; --skip steady_prior leaves evaluate in; required stages cannot be skipped; --from/--only need the operator first")
    func plans() throws {
        let spec = try spec()
        let fresh = try PipelinePlan.make(spec: spec, ledger: StageLedger())
        #expect(fresh.stagesToRun == Self.stages)
        #expect(fresh.steps.allSatisfy { $0.reason == "not started" })
        let skipped = try PipelinePlan.make(spec: spec, ledger: StageLedger(), options: PlanOptions(skip: ["steady_prior"]))
        #expect(skipped.stagesToRun == ["operator", "diff_residual", "consistency_distill", "evaluate"])
        #expect(skipped.steps.first { $0.stage == "steady_prior" }?.reason == "skipped (--skip)")
        #expect(throws: ResumableError.self) {
            try PipelinePlan.make(spec: spec, ledger: StageLedger(), options: PlanOptions(skip: ["diff_residual"]))
        }
        // --from and --only need what the selected stages read: on a fresh ledger the operator has not run yet.
        #expect(throws: ResumableError.self) {
            try PipelinePlan.make(spec: spec, ledger: StageLedger(), options: PlanOptions(from: "diff_residual"))
        }
        #expect(throws: ResumableError.self) {
            try PipelinePlan.make(spec: spec, ledger: StageLedger(), options: PlanOptions(only: ["evaluate"]))
        }
        let operatorOnly = try PipelinePlan.make(spec: spec, ledger: StageLedger(), options: PlanOptions(only: ["operator"]))
        #expect(operatorOnly.stagesToRun == ["operator"])
    }
}
