import Foundation
import Resumable
import Testing

/// The Python package (`python/resumable`) and the Swift library read each
/// other's checkpoints: a checkpoint the package saves verifies, diffs equal
/// to one the Swift library saved from the same tensors and loads in Swift;
/// the Swift `digits` example's checkpoint loads in Python. Runs the real
/// package with the test venv's interpreter (`TestSupport.python`).
@Suite("Interop: the Python package and the Swift library")
struct PythonPackageInteropTests {
    /// Runs `script` with the package importable and `resumable` pointing at the built binary.
    static func python(_ script: String, _ arguments: [String]) throws -> JSONValue {
        let outcome = try TestSupport.run(
            TestSupport.python, ["-c", script] + arguments,
            environment: ["PYTHONPATH": TestSupport.packageRoot + "/python", "RESUMABLE_BIN": TestSupport.resumable],
            deadline: 300)
        guard outcome.status == 0 else { throw ResumableError(.io, "python failed: \(outcome)") }
        return try TestSupport.json(outcome.stdout.split(separator: "\n").last.map(String.init) ?? "")
    }

    static let weights: [Float] = (0..<12).map { Float($0) * 0.375 - 2 }
    static let counts: [Int64] = [Int64.min, -1, 0, 7, Int64.max]
    /// bfloat16 bit patterns of 1.5, -3.0, 0.0 and the largest finite value.
    static let halves: [UInt16] = [0x3FC0, 0xC040, 0x0000, 0x7F7F]

    /// The same tensors, made by Python with `Run.save` (NumPy + ml_dtypes for bfloat16).
    static let saveFromPython = """
        import sys, json
        import numpy as np, ml_dtypes
        from resumable import Run
        run = Run(sys.argv[1])
        tensors = {
            "layer.weight": (np.arange(12, dtype=np.float32) * np.float32(0.375) - np.float32(2)).reshape(3, 4),
            "counts": np.array([-(2**63), -1, 0, 7, 2**63 - 1], dtype=np.int64),
            "half": np.array([0x3FC0, 0xC040, 0x0000, 0x7F7F], dtype=np.uint16).view(ml_dtypes.bfloat16),
        }
        saved = run.save(1, tensors=tensors, epoch=2, metrics={"loss": 0.5})
        print(json.dumps({"path": saved.path}))
        """

    @Test("a checkpoint saved by Python verifies, diffs equal to the Swift library's and loads in Swift")
    func pythonToSwift() throws {
        let root = TestSupport.temporaryDirectory("py-interop")
        let swiftRun = root + "/swift", pythonRun = root + "/python"
        let store = try CheckpointStore(directory: swiftRun, access: .write, create: true)
        try store.commit(step: 1) { draft in
            try draft.writeTensors([
                TensorSource(name: "layer.weight", dtype: .f32, shape: [3, 4], values: Self.weights),
                TensorSource(name: "counts", dtype: .i64, shape: [5], values: Self.counts),
                TensorSource(name: "half", dtype: .bf16, shape: [4], values: Self.halves),
            ], metadata: ["format": "np"])
        }
        let saved = try Self.python(Self.saveFromPython, [pythonRun])
        let path = try #require(saved["path"]?.stringValue)

        #expect(try TestSupport.resumable("verify", pythonRun).status == 0)
        let diff = try TestSupport.resumable("diff", swiftRun, pythonRun)
        #expect(diff.status == 0, "\(diff)")

        let checkpoint = try CheckpointStore(directory: pythonRun, access: .read).latest()?.checkpoint
        #expect(checkpoint?.directory == path)
        let tensors = try #require(try checkpoint?.tensors())
        #expect(try tensors.array("layer.weight", as: Float.self) == Self.weights)
        #expect(try tensors.array("counts", as: Int64.self) == Self.counts)
        #expect(try tensors.array("half", as: UInt16.self) == Self.halves)
        #expect(tensors.info("half")?.dtype == .bf16 && tensors.info("layer.weight")?.shape == [3, 4])
        #expect(checkpoint?.manifest.epoch == 2)
    }

    static let describeFromPython = """
        import sys, json
        from resumable import Run
        checkpoint = Run(sys.argv[1]).load()
        print(json.dumps({
            "step": checkpoint.step, "epoch": checkpoint.epoch,
            "tensors": {k: {"dtype": str(v.dtype), "shape": list(v.shape), "sum": float(v.astype("float64").sum())}
                        for k, v in checkpoint.tensors.items()},
            "state_keys": sorted(checkpoint.state) if isinstance(checkpoint.state, dict) else None,
        }))
        """

    @Test("the Swift digits example's checkpoint loads in Python: every tensor and its state")
    func swiftDigitsToPython() throws {
        let run = TestSupport.temporaryDirectory("py-digits") + "/run"
        let trained = try TestSupport.run(
            TestSupport.executable("digits"), ["--run-dir", run, "--epochs", "1"], deadline: 300)
        #expect(trained.status == 0, "\(trained)")
        let described = try Self.python(Self.describeFromPython, [run])

        let checkpoint = try #require(try CheckpointStore(directory: run, access: .read).latest()?.checkpoint)
        #expect(described["step"]?.intValue == checkpoint.step)
        var expected = 0
        for name in checkpoint.tensorSetNames {
            let set = try checkpoint.tensors(named: name)
            for info in set.tensors {
                expected += 1
                let seen = described["tensors"]?[info.name]
                #expect(seen?["shape"] == .array(info.shape.map { .int(Int64($0)) }), "\(info.name)")
                if info.dtype == .f32 {
                    let sum = try set.array(info.name, as: Float.self).reduce(0.0) { $0 + Double($1) }
                    #expect(abs((seen?["sum"]?.doubleValue ?? .nan) - sum) <= 1e-6 * max(1, abs(sum)), "\(info.name)")
                }
            }
        }
        #expect(described["tensors"]?.objectValue?.count == expected && expected > 0)
        #expect(described["state_keys"]?.arrayValue?.isEmpty == false)
    }
}
