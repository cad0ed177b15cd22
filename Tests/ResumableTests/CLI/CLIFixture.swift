import Foundation
import Resumable

/// Runs and damage for the command-line tests, made through the library.
enum CLIFixture {
    /// The loss recorded at a step: step 200 is the best (lowest).
    static func loss(_ step: Int64) -> Double { Double(abs(step - 200)) / 1000 + 0.2 }

    /// The weights of tensor `w` at a step: element i is `i * step / 100`.
    static func weights(_ step: Int64) -> [Float] { (0..<6).map { Float($0) * Float(step) / 100 } }

    /// A run with checkpoints at `steps`, each holding `model.safetensors`
    /// (`w`: F32 [2, 3], `b`: I64 [2]) and `state.json` (`step`, `lr`), epoch i+1,
    /// metric `loss`; the run's monitor is `loss` (min) unless `monitor` is false.
    static func makeRun(_ label: String = "cli", steps: [Int64] = [100, 200, 300], monitor: Bool = true) throws -> String {
        let directory = TestSupport.temporaryDirectory(label) + "/run"
        let store = try CheckpointStore(directory: directory, access: .write, create: true)
        if monitor { try store.updateRun { $0.monitor = Monitor(metric: "loss", mode: .min) } }
        for (i, step) in steps.enumerated() {
            try store.commit(step: step) { draft in
                draft.epoch = Int64(i + 1)
                draft.metrics = ["loss": loss(step)]
                try draft.writeTensors([
                    TensorSource(name: "w", dtype: .f32, shape: [2, 3], values: weights(step)),
                    TensorSource(name: "b", dtype: .i64, shape: [2], values: [Int64(1), 2]),
                ])
                try draft.writeJSON(named: "state.json", ["step": .int(step), "lr": 0.1])
            }
        }
        store.close()
        return directory
    }

    /// The directory of a step of a run.
    static func checkpoint(_ run: String, _ step: Int64) -> String {
        run + "/checkpoints/" + Checkpoint.directoryName(step: step)
    }

    /// Flips one byte of tensor `tensor` in a checkpoint's `model.safetensors`.
    static func flipByte(run: String, step: Int64, tensor: String = "w") throws {
        let path = checkpoint(run, step) + "/model.safetensors"
        let offset: Int
        do {
            let file = try SafeTensorsFile(path: path)
            offset = file.header.dataStart + file.info(tensor)!.dataOffsets.lowerBound + 1
        }
        var data = try Data(contentsOf: URL(fileURLWithPath: path))
        data[offset] ^= 0xFF
        try data.write(to: URL(fileURLWithPath: path))
    }

    /// Cuts a file of a checkpoint to half its size.
    static func truncate(run: String, step: Int64, file: String) throws {
        let path = checkpoint(run, step) + "/" + file
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: path))
    }

    /// Writes a plain directory of files as another program would (for `commit`).
    static func sourceDirectory(_ label: String = "src", scale: Float = 1) throws -> String {
        let directory = TestSupport.temporaryDirectory(label)
        try SafeTensorsWriter.write(
            [TensorSource(name: "weight", dtype: .f32, shape: [4], values: [1, 2, 3, 4].map { $0 * scale })],
            to: directory + "/model.safetensors")
        try Data(#"{"epoch": 1, "note": "from a script"}"#.utf8).write(to: URL(fileURLWithPath: directory + "/state.json"))
        return directory
    }

    /// Runs the built binary and parses its standard output as JSON.
    static func json(_ arguments: String..., environment: [String: String] = [:]) throws -> (TestSupport.Outcome, JSONValue) {
        let outcome = try TestSupport.run(TestSupport.resumable, arguments, environment: environment)
        return (outcome, try TestSupport.json(outcome.stdout))
    }
}
