import DurableFiles

extension StageFingerprint {
    /// The fingerprint `stage` has now: its command and env as declared, the
    /// content of its inputs on disk, and its upstream stages' outputs as the
    /// ledger records them.
    /// - Throws: for an input that cannot be read or is over the limits (docs/PIPELINES.md).
    public static func current(of stage: StageSpec, in spec: PipelineSpec, ledger: StageLedger) throws -> StageFingerprint {
        let env = PipelineHash.environment(stage.env)
        var inputs: [String: String] = [:]
        for input in stage.inputs {
            inputs[input] = try PipelineHash.input(PipelineSpec.resolve(input, against: spec.baseDirectory))
        }
        var upstream: [String: String] = [:]
        for need in stage.needs {
            let record = ledger.record(need)
            upstream[need] = record.status == .completed ? StageOutput.combinedSHA256(record.outputs) : ""
        }
        return StageFingerprint(
            command: PipelineHash.sha256(stage.command.canonicalText), env: env, inputs: inputs, upstream: upstream)
    }
}

extension StageOutput {
    /// Hashes a stage's declared outputs in `runDirectory` (not through links).
    /// - Returns: the outputs, and the paths that are missing (not regular files).
    public static func measure(_ paths: [String], runDirectory: String) throws -> (outputs: [StageOutput], missing: [String]) {
        var outputs: [StageOutput] = []
        var missing: [String] = []
        for path in paths {
            let full = runDirectory + "/" + path
            guard FileSystem.entryType(full) == .regular else {
                missing.append(path)
                continue
            }
            let (sha, bytes) = try PipelineHash.file(full)
            outputs.append(StageOutput(path: path, bytes: bytes, sha256: sha))
        }
        return (outputs, missing)
    }

    /// Why recorded outputs no longer stand in `runDirectory`, in one line
    /// ("output stages/op/model.pt missing" / "… changed"); `nil` when all are there unchanged.
    /// Sizes are compared first; contents are hashed only when `verifyContent`.
    public static func change(of recorded: [StageOutput], declared: [String], runDirectory: String, verifyContent: Bool = true) throws -> String? {
        for path in declared where !recorded.contains(where: { $0.path == path }) {
            return "output \(path) not recorded"
        }
        for output in recorded {
            let full = runDirectory + "/" + output.path
            guard FileSystem.entryType(full) == .regular else { return "output \(output.path) missing" }
            if (try? FileSystem.size(of: full)) != output.bytes { return "output \(output.path) changed" }
            if verifyContent, try PipelineHash.file(full).sha256 != output.sha256 { return "output \(output.path) changed" }
        }
        return nil
    }
}
