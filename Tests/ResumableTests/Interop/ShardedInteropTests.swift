import Foundation
import Resumable
import Testing

/// A sharded checkpoint reads in Python the Hugging Face way: the index's
/// `weight_map`, each shard with `safetensors.numpy.load_file`.
@Suite("Interop: sharded checkpoints in Python safetensors")
struct ShardedInteropTests {
    static let loadShards = """
        import sys, json, os, hashlib
        from safetensors.numpy import load_file
        directory = sys.argv[1]
        with open(os.path.join(directory, "model.safetensors.index.json")) as f:
            index = json.load(f)
        tensors, metadata = {}, {}
        for shard in sorted(set(index["weight_map"].values())):
            for name, array in load_file(os.path.join(directory, shard)).items():
                assert index["weight_map"][name] == shard, name
                assert name not in tensors, name
                tensors[name] = array
        assert set(tensors) == set(index["weight_map"]), "a tensor of the index is in no shard"
        print(json.dumps({
            "total_size": index["metadata"]["total_size"],
            "shards": sorted(set(index["weight_map"].values())),
            "tensors": {k: {"dtype": str(a.dtype), "shape": list(a.shape), "sha256": hashlib.sha256(a.tobytes()).hexdigest()}
                        for k, a in tensors.items()},
        }))
        """

    @Test("every shard of a .count(3) commit loads through the index with safetensors.numpy.load_file, every NumPy dtype")
    func pythonLoadsShards() throws {
        let run = TestSupport.temporaryDirectory("interop-shards") + "/run"
        defer { try? FileManager.default.removeItem(atPath: FilePath.parent(of: run)) }
        let store = try CheckpointStore(directory: run, access: .write, create: true)
        let tensors = PythonInteropTests.numpyDTypes.enumerated().map { i, dtype in PythonInteropTests.tensor(dtype, salt: i) }
        let checkpoint = try store.commit(step: 1) { draft in
            try draft.writeTensors(tensors.map(\.source), metadata: ["format": "np"], shards: .count(3))
        }.checkpoint
        let out = try PythonInteropTests.python(Self.loadShards, [checkpoint.directory])
        #expect(out["shards"] == .array((1...3).map { .string("model-0000\($0)-of-00003.safetensors") }))
        #expect(out["total_size"]?.intValue == Int64(tensors.reduce(0) { $0 + $1.bytes.count }))
        #expect(out["tensors"]?.objectValue?.count == tensors.count)
        for (source, bytes) in tensors {
            let described = out["tensors"]?[source.name]
            bytes.withUnsafeBytes { raw in
                #expect(described?["sha256"]?.stringValue == Checksum.sha256(raw), "\(source.name)")
            }
            #expect(described?["shape"] == .array(source.shape.map { .int(Int64($0)) }), "\(source.name)")
        }
    }
}
