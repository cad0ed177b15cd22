import Foundation
import Resumable
import Testing

/// Tensors of a sharded commit: several dtypes and sizes, with distinct bytes.
enum ShardFixture {
    /// Tensor names, in order, with their element counts.
    static let layout: [(name: String, count: Int)] = [
        ("embed", 300), ("layer0.w", 120), ("layer0.b", 12), ("layer1.w", 120), ("layer1.b", 12), ("head", 60), ("step", 1),
    ]

    /// The values of a tensor: element i is `i * 0.5 + salt`.
    static func values(_ index: Int, salt: Float = 0) -> [Float] {
        (0..<layout[index].count).map { Float($0) * 0.5 + Float(index) + salt }
    }

    static func sources(salt: Float = 0) -> [TensorSource] {
        layout.indices.map { i in
            TensorSource(name: layout[i].name, dtype: .f32, shape: [layout[i].count], values: values(i, salt: salt))
        }
    }

    /// A run whose checkpoint at `step` holds the fixture's tensors as `shards`, and `state.json`.
    static func makeRun(_ label: String, shards: ShardPolicy = .count(3), step: Int64 = 10) throws -> (run: String, checkpoint: Checkpoint) {
        let run = TestSupport.temporaryDirectory(label) + "/run"
        let store = try CheckpointStore(directory: run, access: .write, create: true)
        defer { store.close() }
        let checkpoint = try store.commit(step: step) { draft in
            try draft.writeTensors(sources(), metadata: ["format": "np"], shards: shards)
            try draft.writeJSON(named: "state.json", ["step": .int(step)])
        }.checkpoint
        return (run, checkpoint)
    }

    /// Flips one byte of `tensor` in the shard file holding it; returns that file's name.
    @discardableResult
    static func flipByte(in checkpoint: Checkpoint, tensor: String) throws -> String {
        let set = try checkpoint.tensors()
        let file = try #require(set.file(containing: tensor))
        let offset = file.header.dataStart + (set.info(tensor)?.dataOffsets.lowerBound ?? 0) + 2
        let url = URL(fileURLWithPath: file.path)
        var data = try Data(contentsOf: url)
        data[offset] ^= 0x5A
        try data.write(to: url)
        return FilePath.lastComponent(of: file.path)
    }
}

@Suite("Sharded checkpoints")
struct ShardedCheckpointTests {
    static let shardNames = (1...3).map { "model-0000\($0)-of-00003.safetensors" }

    @Test("a .count(3) commit writes three shards and the index, and every tensor round-trips through tensors()")
    func roundTrip() throws {
        let (run, checkpoint) = try ShardFixture.makeRun("shards-roundtrip")
        defer { try? FileManager.default.removeItem(atPath: FilePath.parent(of: run)) }
        let names = checkpoint.manifest.files.map(\.name)
        #expect(names == Self.shardNames + ["model.safetensors.index.json", "state.json"])
        #expect(!FileSystem.exists(checkpoint.path(of: "model.safetensors")))
        for record in checkpoint.manifest.files where record.name.hasSuffix(".safetensors") {
            #expect(record.tensorCRC32C?.isEmpty == false, "\(record.name)")
        }
        let set = try checkpoint.tensors()
        #expect(set.isSharded)
        #expect(set.files.count == 3)
        #expect(set.names == ShardFixture.layout.map(\.name))
        #expect(set.metadata == ["format": "np"])
        for (i, entry) in ShardFixture.layout.enumerated() {
            #expect(try set.array(entry.name, as: Float.self) == ShardFixture.values(i), "\(entry.name)")
            #expect(set.info(entry.name)?.shape == [entry.count])
            #expect(try set.bytes(of: entry.name).count == entry.count * 4)
        }
        #expect(throws: ResumableError.self) { _ = try set.array("nope", as: Float.self) }
        // Every shard holds something and carries the caller's metadata.
        for file in set.files {
            #expect(!file.tensors.isEmpty)
            #expect(file.metadata == ["format": "np"])
        }
        #expect(checkpoint.tensorSetNames == ["model.safetensors"])
        #expect(try CheckpointStore.verify(checkpoint).isIntact)
    }

    @Test("the index is Hugging Face's: metadata.total_size and weight_map, shards in tensor order")
    func indexFormat() throws {
        let (run, checkpoint) = try ShardFixture.makeRun("shards-index")
        defer { try? FileManager.default.removeItem(atPath: FilePath.parent(of: run)) }
        let json = try JSONParser().parse(try FileSystem.readFile(checkpoint.path(of: "model.safetensors.index.json")))
        let payload = ShardFixture.layout.reduce(0) { $0 + $1.count * 4 }
        #expect(json["metadata"] == ["total_size": .int(Int64(payload))])
        let map = try #require(json["weight_map"]?.objectValue)
        #expect(Set(map.keys) == Set(ShardFixture.layout.map(\.name)))
        let order = ShardFixture.layout.compactMap { map[$0.name]?.stringValue }
        #expect(order == order.sorted(), "contiguous groups in the tensors' order")
        #expect(Set(order) == Set(Self.shardNames))
    }

    @Test("small tensor sets stay one file with .automatic; .single never shards")
    func automaticSmall() throws {
        let (run, checkpoint) = try ShardFixture.makeRun("shards-auto", shards: .automatic)
        defer { try? FileManager.default.removeItem(atPath: FilePath.parent(of: run)) }
        #expect(checkpoint.manifest.files.map(\.name) == ["model.safetensors", "state.json"])
        let set = try checkpoint.tensors()
        #expect(!set.isSharded)
        #expect(set.path == checkpoint.path(of: "model.safetensors"))
        #expect(try set.array("head", as: Float.self) == ShardFixture.values(5))
    }

    @Test("two tensors with one name across shards are refused before anything is written")
    func duplicateNames() throws {
        let run = TestSupport.temporaryDirectory("shards-dup") + "/run"
        defer { try? FileManager.default.removeItem(atPath: FilePath.parent(of: run)) }
        let store = try CheckpointStore(directory: run, access: .write, create: true)
        let draft = try store.beginCheckpoint(step: 1)
        let a = TensorSource(name: "a", dtype: .f32, shape: [2], values: [Float(1), 2])
        let error = #expect(throws: ResumableError.self) { try draft.writeTensors([a, a], shards: .count(2)) }
        #expect(error?.code == .usage)
        #expect(draft.files.isEmpty)
        store.abandon(draft)
    }

    @Test("verify names the damaged shard and tensor; a missing shard is reported and refused on load")
    func damage() throws {
        let (run, checkpoint) = try ShardFixture.makeRun("shards-damage")
        defer { try? FileManager.default.removeItem(atPath: FilePath.parent(of: run)) }
        let shard = try ShardFixture.flipByte(in: checkpoint, tensor: "layer1.w")
        let report = try CheckpointStore.verify(checkpoint)
        #expect(report.problems.map(\.file) == [shard])
        #expect(report.problems.first?.tensors == ["layer1.w"])

        try FileManager.default.removeItem(atPath: checkpoint.path(of: shard))
        #expect(try CheckpointStore.verify(checkpoint).problems.map(\.description) == ["\(shard): the file is missing"])
        let error = #expect(throws: ResumableError.self) { _ = try checkpoint.tensors() }
        #expect(error?.code == .corrupt)
        #expect(error?.message.contains("model.safetensors.index.json") == true)
        #expect(error?.message.contains("the shard \(shard) is missing") == true)
    }

    @Test("a sharded and a single-file checkpoint of the same tensors compare equal; the index is not a file difference")
    func comparison() throws {
        let (runA, sharded) = try ShardFixture.makeRun("shards-cmp-a")
        let (runB, single) = try ShardFixture.makeRun("shards-cmp-b", shards: .single)
        defer {
            try? FileManager.default.removeItem(atPath: FilePath.parent(of: runA))
            try? FileManager.default.removeItem(atPath: FilePath.parent(of: runB))
        }
        let comparison = try CheckpointComparison.compare(sharded, single)
        #expect(comparison.tensorsAreIdentical)
        #expect(comparison.tensors.count == ShardFixture.layout.count)
        #expect(comparison.files.map(\.name) == ["state.json"])
        #expect(!comparison.metadata.contains { $0.key.contains("index") }, "\(comparison.metadata.map(\.key))")
        #expect(comparison.tensors.first { $0.name == "embed" }?.fileA == Self.shardNames[0])
    }
}
