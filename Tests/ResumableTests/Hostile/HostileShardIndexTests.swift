import Foundation
import Resumable
import Testing

/// Damaged and hostile shard indexes are refused with `.corrupt`, naming the
/// index and what is wrong; never a crash, never a file outside the directory.
@Suite("Hostile input: shard indexes")
struct HostileShardIndexTests {
    static let first = "model-00001-of-00002.safetensors"
    static let second = "model-00002-of-00002.safetensors"

    /// One hostile index: its text, and what the error must say.
    struct Case: CustomTestStringConvertible, Sendable {
        var label: String
        var index: String
        var says: String
        var testDescription: String { label }
    }

    static let cases: [Case] = [
        Case(label: "garbage", index: "model.safetensors?!\u{0}", says: "not valid JSON"),
        Case(label: "truncated JSON", index: #"{"weight_map": {"a": "model-0000"#, says: "not valid JSON"),
        Case(label: "not an object", index: #"["a", "b"]"#, says: "not a JSON object"),
        Case(label: "no weight_map", index: #"{"metadata": {"total_size": 8}}"#, says: "no \"weight_map\""),
        Case(label: "empty weight_map", index: #"{"weight_map": {}}"#, says: "names no tensor"),
        Case(label: "metadata not an object", index: #"{"metadata": 3, "weight_map": {"a": "x"}}"#, says: "\"metadata\" is not an object"),
        Case(label: "shard not a string", index: #"{"weight_map": {"a": 1}}"#, says: "not a string"),
        Case(label: "parent path", index: #"{"weight_map": {"a": "../x.safetensors"}}"#, says: "not a plain file name"),
        Case(label: "absolute path", index: #"{"weight_map": {"a": "/etc/passwd"}}"#, says: "not a plain file name"),
        Case(label: "dot dot", index: #"{"weight_map": {"a": ".."}}"#, says: "not a plain file name"),
        Case(label: "control character", index: #"{"weight_map": {"a": "x\ny.safetensors"}}"#, says: "x?y.safetensors"),
        Case(label: "deep nesting", index: String(repeating: "[", count: 10_000), says: "not valid JSON"),
        Case(
            label: "missing shard",
            index: #"{"weight_map": {"a": "\#(first)", "b": "\#(first)", "c": "model-00003-of-00003.safetensors"}}"#,
            says: "the shard model-00003-of-00003.safetensors is missing"),
        Case(
            label: "tensor absent from its shard",
            index: #"{"weight_map": {"a": "\#(first)", "b": "\#(first)", "c": "\#(second)", "ghost": "\#(second)"}}"#,
            says: "tensor \"ghost\" in \(second), which has no such tensor"),
        Case(
            label: "tensor of a shard not in the index",
            index: #"{"weight_map": {"a": "\#(first)", "c": "\#(second)"}}"#,
            says: "holds tensor \"b\", which the index does not list"),
        Case(
            label: "tensor in another shard than the index says",
            index: #"{"weight_map": {"a": "\#(first)", "b": "\#(second)", "c": "\#(second)"}}"#,
            says: "tensor \"b\" is in \(first), but the index says \(second)"),
        Case(
            label: "tensor duplicated across shards",
            index: #"{"weight_map": {"a": "\#(first)", "b": "\#(first)", "c": "z-dup.safetensors"}}"#,
            says: "tensor \"a\" is in both \(first) and z-dup.safetensors"),
        Case(
            label: "shard that is not safetensors",
            index: #"{"weight_map": {"a": "\#(first)", "b": "\#(first)", "c": "state.json"}}"#,
            says: "state.json is not a valid safetensors file"),
    ]

    /// A directory with two shards (`a`, `b` | `c`), a shard `z-dup` holding `c` and `a` again, and `state.json`.
    static func directory() throws -> String {
        let dir = TestSupport.temporaryDirectory("hostile-index")
        func tensor(_ name: String) -> TensorSource { TensorSource(name: name, dtype: .f32, shape: [2], values: [Float(1), 2]) }
        try SafeTensorsWriter.write([tensor("a"), tensor("b")], to: dir + "/" + first)
        try SafeTensorsWriter.write([tensor("c")], to: dir + "/" + second)
        try SafeTensorsWriter.write([tensor("c"), tensor("a")], to: dir + "/z-dup.safetensors")
        try Data("{}".utf8).write(to: URL(fileURLWithPath: dir + "/state.json"))
        return dir
    }

    @Test("a well-formed index opens the two shards as one set")
    func wellFormed() throws {
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let index = dir + "/model.safetensors.index.json"
        try Data(#"{"metadata": {"total_size": 24}, "weight_map": {"a": "\#(Self.first)", "b": "\#(Self.first)", "c": "\#(Self.second)"}}"#.utf8)
            .write(to: URL(fileURLWithPath: index))
        let set = try SafeTensorsShards(indexPath: index)
        #expect(set.names == ["a", "b", "c"])
        #expect(try set.array("c", as: Float.self) == [1, 2])
        // A shard the caller knows of but the index does not name is refused.
        let error = #expect(throws: ResumableError.self) {
            _ = try SafeTensorsShards(indexPath: index, expectedShards: [Self.first, Self.second, "model-00003-of-00003.safetensors"])
        }
        #expect(error?.code == .corrupt)
        #expect(error?.message.contains("model-00003-of-00003.safetensors belongs to the set but the index names none") == true)
    }

    @Test("a hostile index is refused as corrupt, naming the index and the fault", arguments: cases)
    func hostile(_ hostile: Case) throws {
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let index = dir + "/model.safetensors.index.json"
        try Data(hostile.index.utf8).write(to: URL(fileURLWithPath: index))
        let error = #expect(throws: ResumableError.self) { _ = try SafeTensorsShards(indexPath: index) }
        #expect(error?.code == .corrupt)
        #expect(error?.message.contains(hostile.says) == true, "\(error?.message ?? "")")
        #expect(error?.message.contains(index) == true || error?.path?.hasPrefix(dir) == true, "\(error?.message ?? "")")
    }

    @Test("a missing index is .notFound")
    func missing() throws {
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let error = #expect(throws: ResumableError.self) { _ = try SafeTensorsShards(indexPath: dir + "/model.safetensors.index.json") }
        #expect(error?.code == .notFound)
    }

    @Test("a checkpoint whose manifest lists a shard the index leaves out is refused on load")
    func extraShardInCheckpoint() throws {
        let (run, checkpoint) = try ShardFixture.makeRun("hostile-extra-shard")
        defer { try? FileManager.default.removeItem(atPath: FilePath.parent(of: run)) }
        // Rewrite the index without the third shard's tensors (the manifest still lists that shard).
        let indexPath = checkpoint.path(of: "model.safetensors.index.json")
        var index = try ShardIndex(contentsOf: indexPath)
        index.weightMap = index.weightMap.filter { $0.value != "model-00003-of-00003.safetensors" }
        try Data(index.json.serialized().utf8).write(to: URL(fileURLWithPath: indexPath))
        let error = #expect(throws: ResumableError.self) { _ = try checkpoint.tensors() }
        #expect(error?.code == .corrupt)
        #expect(error?.message.contains("model-00003-of-00003.safetensors belongs to the set") == true, "\(error?.message ?? "")")
    }
}
