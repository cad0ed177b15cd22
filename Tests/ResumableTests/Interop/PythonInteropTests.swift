import Foundation
import Resumable
import Testing

/// Files Resumable writes open unchanged in the Python `safetensors` package
/// and NumPy, and files they write open in Resumable, byte for byte, for
/// every dtype each side knows. Runs the real package (`TestSupport.python`,
/// the venv `scripts/setup-python.sh` makes).
@Suite("Interop: Python safetensors and NumPy")
struct PythonInteropTests {
    /// Dtypes `safetensors.numpy` loads into NumPy arrays.
    static let numpyDTypes: [DType] = [.f64, .f32, .f16, .i64, .u64, .i32, .u32, .i16, .u16, .i8, .u8, .bool, .c64]

    /// A tensor of `dtype` with deterministic bytes: 12 elements (24 for packed sub-byte types).
    static func tensor(_ dtype: DType, salt: Int = 0) -> (source: TensorSource, bytes: [UInt8]) {
        let shape = dtype.bitWidth < 8 ? [2, 12] : [3, 4]
        let count = dtype.byteCount(elements: shape.reduce(1, *)) ?? 0
        let bytes = (0..<count).map { i -> UInt8 in
            dtype == .bool ? UInt8((i + salt) % 2) : UInt8(truncatingIfNeeded: i &* 37 &+ 11 &+ salt)
        }
        return (TensorSource(name: "t_" + dtype.rawValue.lowercased(), dtype: dtype, shape: shape, values: bytes), bytes)
    }

    /// Runs a Python script with arguments; returns its stdout parsed as JSON.
    static func python(_ script: String, _ arguments: [String]) throws -> JSONValue {
        let outcome = try TestSupport.run(TestSupport.python, ["-c", script] + arguments)
        guard outcome.status == 0 else {
            throw ResumableError(.io, "python failed (\(TestSupport.python)): \(outcome)")
        }
        return try TestSupport.json(outcome.stdout)
    }

    static let describeWithNumPy = """
        import sys, json, hashlib
        import numpy as np
        from safetensors.numpy import load_file
        from safetensors import safe_open
        path = sys.argv[1]
        loaded = load_file(path)
        out = {"tensors": {}, "values": {}}
        with safe_open(path, framework="np") as f:
            out["metadata"] = f.metadata()
            out["keys"] = sorted(f.keys())
            for k in f.keys():
                a = f.get_tensor(k)
                assert np.array_equal(a.view(np.uint8), loaded[k].view(np.uint8)), k
        for k, a in loaded.items():
            out["tensors"][k] = {"dtype": str(a.dtype), "shape": list(a.shape),
                                 "sha256": hashlib.sha256(a.tobytes()).hexdigest()}
        out["values"]["weights"] = [float(x) for x in loaded["weights"].ravel()]
        out["values"]["steps"] = [int(x) for x in loaded["steps"].ravel()]
        print(json.dumps(out))
        """

    @Test("a checkpoint's tensor file opens in safetensors.numpy and safe_open with equal values, every NumPy dtype")
    func resumableToNumPy() throws {
        let run = TestSupport.temporaryDirectory("interop") + "/run"
        defer { try? FileManager.default.removeItem(atPath: FilePath.parent(of: run)) }
        let store = try CheckpointStore(directory: run, access: .write, create: true)
        let tensors = Self.numpyDTypes.map { Self.tensor($0) }
        let weights: [Float] = [0, 0.5, -1.25, .pi, 1e-30, -3e38, .greatestFiniteMagnitude, 65504]
        let steps: [Int64] = [Int64.min, -1, 0, 1, Int64.max]
        let checkpoint = try store.commit(step: 1) { draft in
            try draft.writeTensors(
                tensors.map(\.source) + [
                    TensorSource(name: "weights", dtype: .f32, shape: [2, 4], values: weights),
                    TensorSource(name: "steps", dtype: .i64, shape: [5], values: steps),
                ], metadata: ["format": "np", "note": "é \" \\ \n"])
        }.checkpoint
        let out = try Self.python(Self.describeWithNumPy, [checkpoint.path(of: "model.safetensors")])
        #expect(out["metadata"] == ["format": "np", "note": "é \" \\ \n"])
        #expect(out["keys"]?.arrayValue?.count == tensors.count + 2)
        for (source, bytes) in tensors {
            let described = out["tensors"]?[source.name]
            bytes.withUnsafeBytes { raw in
                #expect(described?["sha256"]?.stringValue == Checksum.sha256(raw), "\(source.name)")
            }
            #expect(described?["shape"] == .array(source.shape.map { .int(Int64($0)) }), "\(source.name)")
        }
        #expect(out["values"]?["weights"]?.arrayValue?.compactMap(\.doubleValue) == weights.map(Double.init))
        #expect(out["values"]?["steps"]?.arrayValue?.compactMap(\.intValue) == steps)
        #expect(out["tensors"]?["t_bf16"] == nil)
        #expect(out["tensors"]?["t_f16"]?["dtype"] == "float16")
        #expect(out["tensors"]?["t_c64"]?["dtype"] == "complex64")
    }

    @Test("every dtype Resumable writes, F8/BF16/F4/F6 included, reads back in safetensors.deserialize")
    func allDTypesToPython() throws {
        let dir = TestSupport.temporaryDirectory("interop")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let tensors = DType.allCases.map { Self.tensor($0, salt: 3) }
        try SafeTensorsWriter.write(tensors.map(\.source), metadata: ["k": "v"], to: dir + "/all.safetensors")
        let script = """
            import sys, json, hashlib, safetensors
            data = open(sys.argv[1], "rb").read()
            out = {name: {"dtype": t["dtype"], "shape": list(t["shape"]), "sha256": hashlib.sha256(bytes(t["data"])).hexdigest()}
                   for name, t in safetensors.deserialize(data)}
            with safetensors.safe_open(sys.argv[1], framework="np") as f:
                out["__metadata__"] = f.metadata()
            print(json.dumps(out))
            """
        let out = try Self.python(script, [dir + "/all.safetensors"])
        #expect(out["__metadata__"] == ["k": "v"])
        for (source, bytes) in tensors {
            let described = out[source.name]
            #expect(described?["dtype"]?.stringValue == source.dtype.rawValue, "\(source.name)")
            #expect(described?["shape"] == .array(source.shape.map { .int(Int64($0)) }), "\(source.name)")
            bytes.withUnsafeBytes { raw in
                #expect(described?["sha256"]?.stringValue == Checksum.sha256(raw), "\(source.name)")
            }
        }
    }

    static let writeWithPython = """
        import sys, json, hashlib
        import numpy as np
        import safetensors
        from safetensors.numpy import save_file
        out_dir = sys.argv[1]
        rng = np.random.default_rng(7)
        arrays = {
            "f64": rng.standard_normal((3, 5)), "f32": rng.standard_normal((4, 3)).astype(np.float32),
            "f16": rng.standard_normal((7,)).astype(np.float16), "i64": np.arange(-6, 6, dtype=np.int64).reshape(3, 4),
            "u64": np.array([0, 2**64 - 1], dtype=np.uint64), "i32": np.arange(5, dtype=np.int32),
            "u32": np.array([1, 2**32 - 1], dtype=np.uint32), "i16": np.array([-32768, 32767], dtype=np.int16),
            "u16": np.array([65535], dtype=np.uint16), "i8": np.array([-128, 127], dtype=np.int8),
            "u8": np.arange(256, dtype=np.uint8).reshape(16, 16), "bool": np.array([True, False, True]),
            "c64": (rng.standard_normal(4) + 1j * rng.standard_normal(4)).astype(np.complex64),
            "scalar": np.array(3.5, dtype=np.float32), "empty": np.zeros((0, 3), dtype=np.float32),
        }
        save_file(arrays, out_dir + "/numpy.safetensors", metadata={"written_by": "numpy", "unicode": "ü→∑"})
        expected = {"numpy.safetensors": {k: {"dtype": None, "shape": list(a.shape),
                    "sha256": hashlib.sha256(a.tobytes()).hexdigest()} for k, a in arrays.items()}}
        raw = np.arange(64, dtype=np.uint8)
        specs = {}
        expected["raw.safetensors"] = {}
        for i, (torch_name, st_name, nbytes, shape) in enumerate([
                ("bfloat16", "BF16", 8, [4]), ("float8_e4m3fn", "F8_E4M3", 4, [2, 2]), ("float8_e5m2", "F8_E5M2", 4, [4]),
                ("float8_e8m0fnu", "F8_E8M0", 3, [3]), ("float8_e4m3fnuz", "F8_E4M3FNUZ", 4, [4]),
                ("float8_e5m2fnuz", "F8_E5M2FNUZ", 4, [4]), ("float4_e2m1fn_x2", "F4", 4, [4]),
                ("complex64", "C64", 16, [2]), ("float32", "F32", 8, [2])]):
            chunk = raw[i:i + nbytes].copy()
            specs[st_name.lower()] = (chunk, safetensors.TensorSpec(dtype=torch_name, shape=shape, data_ptr=chunk.ctypes.data, data_len=nbytes))
            expected["raw.safetensors"][st_name.lower()] = {"dtype": st_name, "sha256": hashlib.sha256(chunk.tobytes()).hexdigest(), "shape": None}
        data = safetensors.serialize({k: s for k, (_, s) in specs.items()}, metadata={"written_by": "serialize"})
        open(out_dir + "/raw.safetensors", "wb").write(bytes(data))
        for name, t in safetensors.deserialize(bytes(data)):
            expected["raw.safetensors"][name]["shape"] = list(t["shape"])
        print(json.dumps(expected))
        """

    @Test("files written by save_file and serialize (with metadata) open in Resumable with equal bytes, and commit")
    func pythonToResumable() throws {
        let dir = TestSupport.temporaryDirectory("interop")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let out = dir + "/out"
        try FileSystem.createDirectory(out)
        let expected = try Self.python(Self.writeWithPython, [out])
        for (fileName, metadata) in [("numpy.safetensors", ["written_by": "numpy", "unicode": "ü→∑"]), ("raw.safetensors", ["written_by": "serialize"])] {
            let file = try SafeTensorsFile(path: out + "/" + fileName)
            #expect(file.metadata == metadata)
            let tensors = try #require(expected[fileName]?.objectValue)
            #expect(Set(file.names) == Set(tensors.keys))
            for (name, e) in tensors {
                let info = try #require(file.info(name))
                #expect(Checksum.sha256(try file.bytes(of: name)) == e["sha256"]?.stringValue, "\(fileName) \(name)")
                #expect(.array(info.shape.map { .int(Int64($0)) }) == e["shape"], "\(fileName) \(name)")
                if let dtype = e["dtype"]?.stringValue { #expect(info.dtype.rawValue == dtype, "\(fileName) \(name)") }
            }
        }
        let numpy = try SafeTensorsFile(path: out + "/numpy.safetensors")
        #expect(try numpy.array("i64", as: Int64.self) == Array(-6..<6))
        #expect(try numpy.array("u64", as: UInt64.self) == [0, UInt64.max])
        #expect(try numpy.array("bool", as: Bool.self) == [true, false, true])
        #expect(numpy.info("scalar")?.shape == [] && numpy.info("empty")?.shape == [0, 3])

        // The same files committed as a checkpoint, as a Python job does with `resumable commit`.
        let store = try CheckpointStore(directory: dir + "/run", access: .write, create: true)
        let checkpoint = try store.commitDirectory(out, step: 5).checkpoint
        #expect(try store.verify(checkpoint).isIntact)
        let record = try #require(checkpoint.manifest.files.first { $0.name == "raw.safetensors" })
        let raw = try SafeTensorsFile(path: checkpoint.path(of: "raw.safetensors"))
        #expect(Checksum.sha256(try raw.bytes(of: "bf16")) == expected["raw.safetensors"]?["bf16"]?["sha256"]?.stringValue)
        #expect(record.tensorCRC32C?["bf16"] == CRC32C.digest(try raw.bytes(of: "bf16")))
        #expect(try FileSystem.readFile(out + "/numpy.safetensors") == FileSystem.readFile(checkpoint.path(of: "numpy.safetensors")))
    }
}
