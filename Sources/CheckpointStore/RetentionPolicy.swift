import DurableFiles

/// Which checkpoints to keep. Rules compose: a checkpoint is kept when any
/// rule keeps it. With no rule set, everything is kept.
///
/// Whatever the rules say, `latest`, `best` (by `keepBest`'s monitor, or the
/// run's; the earliest checkpoint to reach the best value, see `Monitor`) and
/// protected steps (the checkpoint a run resumed from, the training loop's
/// best epoch) are never deleted, nor are checkpoints tagged `pinned`.
public struct RetentionPolicy: Sendable, Hashable {
    /// Keep the newest N.
    public var keepLast: Int?
    /// Keep the best K by a metric.
    public var keepBest: Int?
    /// The metric `keepBest` ranks by; `nil` uses the run's monitor.
    public var monitor: Monitor?
    /// Keep every checkpoint whose step is a multiple of N.
    public var keepEvery: Int64?
    /// Keep the newest checkpoint of each period of this many seconds.
    public var keepOnePer: Double?

    /// The tag that protects a checkpoint from retention.
    public static let pinnedTag = "pinned"

    public init(
        keepLast: Int? = nil, keepBest: Int? = nil, monitor: Monitor? = nil, keepEvery: Int64? = nil,
        keepOnePer: Double? = nil
    ) {
        self.keepLast = keepLast
        self.keepBest = keepBest
        self.monitor = monitor
        self.keepEvery = keepEvery
        self.keepOnePer = keepOnePer
    }

    /// Whether no rule is set (nothing would be deleted).
    public var keepsEverything: Bool {
        keepLast == nil && keepBest == nil && keepEvery == nil && keepOnePer == nil
    }

    /// Why each checkpoint is kept; checkpoints absent from the result are to be deleted.
    /// - Parameters:
    ///   - checkpoints: ordered by step.
    ///   - protected: steps never to delete.
    ///   - runMonitor: the run's monitor, used when `monitor` is `nil`.
    public func reasonsToKeep(_ checkpoints: [Checkpoint], protected: Set<Int64>, runMonitor: Monitor?) -> [Int64: [String]] {
        var reasons: [Int64: [String]] = [:]
        func keep(_ step: Int64, _ why: String) { reasons[step, default: []].append(why) }
        if keepsEverything {
            for c in checkpoints { keep(c.step, "no retention rule") }
            return reasons
        }
        if let last = checkpoints.last { keep(last.step, "latest") }
        let monitor = self.monitor ?? runMonitor
        if let monitor, let best = CheckpointStore.best(in: checkpoints, by: monitor) {
            keep(best.step, "best \(monitor.metric)")
        }
        for c in checkpoints {
            if protected.contains(c.step) { keep(c.step, "protected") }
            if c.manifest.tags.contains(Self.pinnedTag) { keep(c.step, "pinned") }
            if let n = keepEvery, n > 0, c.step % n == 0 { keep(c.step, "every \(n) steps") }
        }
        if let n = keepLast, n > 0 {
            for c in checkpoints.suffix(n) { keep(c.step, "last \(n)") }
        }
        if let k = keepBest, k > 0, let monitor {
            let ranked = checkpoints.filter { ($0.manifest.metrics[monitor.metric].map { !$0.isNaN }) ?? false }
                .sorted { a, b in
                    // Equal values rank the earlier step first, as `best` does (see `Monitor`).
                    monitor.ranksBefore(
                        (a.manifest.metrics[monitor.metric] ?? .nan, a.step), (b.manifest.metrics[monitor.metric] ?? .nan, b.step))
                }
            for c in ranked.prefix(k) { keep(c.step, "best \(k) by \(monitor.metric)") }
        }
        if let period = keepOnePer, period > 0 {
            let label = "one per \(period == period.rounded() && period < 1e15 ? String(Int64(period)) : String(period)) s"
            var newestPerBucket: [Int64: Checkpoint] = [:]
            for c in checkpoints {
                guard let t = Timestamp.parse(c.manifest.createdAt) else { continue }
                // A tiny period (or a huge time) gives a bucket beyond Int64: each checkpoint is then its own.
                guard let bucket = Int64(exactly: (t / period).rounded(.down)) else {
                    keep(c.step, label)
                    continue
                }
                if let current = newestPerBucket[bucket], current.step > c.step { continue }
                newestPerBucket[bucket] = c
            }
            for c in newestPerBucket.values { keep(c.step, label) }
        }
        return reasons
    }
}
