import DurableFiles

/// What one tensor set is written as: its files (one, or the shards) and,
/// for shards, the Hugging Face index. Made by ``ShardLayout/plan(_:named:policy:hashStreams:)``;
/// `CheckpointDraft.writeTensors` writes it, and anything that must lay
/// tensors out the same way uses it too.
public struct ShardPlan: Sendable {
    /// One file of the set: its name and the tensors it holds, in order.
    public struct File: Sendable {
        public var name: String
        public var tensors: [TensorSource]
    }

    /// The files, in order: `name` alone, or the shards.
    public var files: [File]
    /// The index to write beside the shards (`ShardLayout.indexName(of:)`), or `nil` for one file.
    public var index: ShardIndex?
}

extension ShardLayout {
    /// How `tensors`, written as the tensor file `name`, are laid out.
    /// - Parameter hashStreams: the SHA-256 streams that can run at once, which
    ///   `.automatic` makes no more shards than; `nil`: this machine's
    ///   (`ChecksummingWriter.parallelHashStreams`).
    /// - Throws: `.usage` when two tensors have one name.
    public static func plan(
        _ tensors: [TensorSource], named name: String, policy: ShardPolicy,
        hashStreams: Int? = nil
    ) throws -> ShardPlan {
        let sizes = tensors.map { $0.expectedByteCount ?? 0 }
        let payload = sizes.reduce(0) { $0.addingReportingOverflow($1).overflow ? Int.max : $0 + $1 }
        let count = policy.shardCount(payloadBytes: payload, tensorCount: tensors.count, processorCount: hashStreams ?? ChecksummingWriter.parallelHashStreams)
        guard count > 1 else { return ShardPlan(files: [.init(name: name, tensors: tensors)], index: nil) }
        let groups = split(sizes, into: count)
        var files: [ShardPlan.File] = []
        var weightMap: [String: String] = [:]
        for (i, group) in groups.enumerated() {
            let shardName = shardName(of: name, index: i, count: groups.count)
            files.append(.init(name: shardName, tensors: Array(tensors[group])))
            for t in tensors[group] where weightMap.updateValue(shardName, forKey: t.name) != nil {
                throw ResumableError(.usage, "two tensors are named \"\(t.name)\"; names must be unique.")
            }
        }
        return ShardPlan(files: files, index: ShardIndex(totalSize: Int64(payload), weightMap: weightMap))
    }
}
