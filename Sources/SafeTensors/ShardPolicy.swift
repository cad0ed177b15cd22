/// How many files a tensor set is split into when it is written.
///
/// The shards are written and hashed in parallel (two per core where the
/// processor can advance two SHA-256 streams at once), so a large tensor set
/// is saved at the speed of all cores; a small one stays one file.
public enum ShardPolicy: Sendable, Hashable {
    /// One shard per ``automaticShardBytes`` of payload, at most one per hash
    /// stream that can run at once and at most ``automaticMaxShards``; one
    /// file below that.
    case automatic
    /// Always one file.
    case single
    /// This many shards (capped by the number of tensors; at least one).
    case count(Int)

    /// The payload each automatic shard holds at least.
    public static let automaticShardBytes = 64 << 20
    /// The most shards `.automatic` makes.
    public static let automaticMaxShards = 8

    /// The number of shards for `tensorCount` tensors of `payloadBytes` in all:
    /// at least 1, never more than the tensors (no shard is empty).
    /// - Parameter processorCount: the hash streams that can run at once —
    ///   processors × `ChecksummingWriter.hashStreamsPerCore` (`.automatic`
    ///   makes no more shards).
    public func shardCount(payloadBytes: Int, tensorCount: Int, processorCount: Int) -> Int {
        let wanted: Int
        switch self {
        case .single: wanted = 1
        case .count(let n): wanted = n
        case .automatic:
            wanted = min(processorCount, Self.automaticMaxShards, payloadBytes / Self.automaticShardBytes)
        }
        return max(1, min(wanted, tensorCount))
    }
}
