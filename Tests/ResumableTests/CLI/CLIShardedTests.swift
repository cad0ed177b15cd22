import Foundation
import Resumable
import Testing

@Suite("resumable inspect, verify and diff on sharded checkpoints")
struct CLIShardedTests {
    static let shards = (1...3).map { "model-0000\($0)-of-00003.safetensors" }

    @Test("inspect shows one tensor set made of three shards, as text and --json")
    func inspect() throws {
        let (run, _) = try ShardFixture.makeRun("cli-shards-inspect")
        defer { try? FileManager.default.removeItem(atPath: FilePath.parent(of: run)) }
        let (outcome, json) = try CLIFixture.json("inspect", run, "--json")
        #expect(outcome.status == 0, "\(outcome)")
        let sets = try #require(json["tensor_files"]?.arrayValue)
        #expect(sets.count == 1)
        #expect(sets.first?["name"] == "model.safetensors")
        #expect(sets.first?["files"] == .array(Self.shards.map { .string($0) }))
        #expect(sets.first?["metadata"] == ["format": "np"])
        #expect(sets.first?["tensors"]?.arrayValue?.compactMap { $0["name"]?.stringValue } == ShardFixture.layout.map(\.name))
        let text = try TestSupport.resumable("inspect", run)
        #expect(text.status == 0, "\(text)")
        #expect(text.stdout.contains("Tensors in model.safetensors (7, 3 shards)"))
        #expect(text.stdout.contains("model.safetensors.index.json"))
    }

    @Test("verify: ok, then a flipped byte names the shard and the tensor (65), then a missing index (65)")
    func verify() throws {
        let (run, checkpoint) = try ShardFixture.makeRun("cli-shards-verify")
        defer { try? FileManager.default.removeItem(atPath: FilePath.parent(of: run)) }
        let ok = try TestSupport.resumable("verify", run)
        #expect(ok.status == 0, "\(ok)")

        let shard = try ShardFixture.flipByte(in: checkpoint, tensor: "layer1.b")
        let (bad, json) = try CLIFixture.json("verify", run, "--json")
        #expect(bad.status == 65, "\(bad)")
        let problem = try #require(json["checkpoints"]?.arrayValue?.first?["problems"]?.arrayValue?.first)
        #expect(problem["file"]?.stringValue == shard)
        #expect(problem["tensors"] == ["layer1.b"])
        let text = try TestSupport.resumable("verify", run)
        #expect(text.stdout.contains(shard) && text.stdout.contains("(tensor layer1.b)"), "\(text)")

        try FileManager.default.removeItem(atPath: checkpoint.path(of: "model.safetensors.index.json"))
        let missing = try TestSupport.resumable("verify", run)
        #expect(missing.status == 65, "\(missing)")
        #expect(missing.stdout.contains("model.safetensors.index.json: the file is missing"), "\(missing)")
        let inspect = try TestSupport.resumable("inspect", run)
        #expect(inspect.status == 65, "\(inspect)")
        #expect(inspect.stderr.contains("model.safetensors.index.json, the index of the sharded model.safetensors, is missing"), "\(inspect)")
    }

    @Test("diff of a sharded and a single-file checkpoint of the same tensors exits 0")
    func diff() throws {
        let (runA, a) = try ShardFixture.makeRun("cli-shards-diff-a")
        let (runB, b) = try ShardFixture.makeRun("cli-shards-diff-b", shards: .single)
        defer {
            try? FileManager.default.removeItem(atPath: FilePath.parent(of: runA))
            try? FileManager.default.removeItem(atPath: FilePath.parent(of: runB))
        }
        let outcome = try TestSupport.resumable("diff", a.directory, b.directory)
        #expect(outcome.status == 0, "\(outcome)")
    }
}
