import DurableFiles
import Logging
import JSON

/// What a prune did or, with `dryRun`, would do.
public struct PruneReport: Sendable {
    /// Kept steps with why.
    public var kept: [(step: Int64, reasons: [String])]
    /// Deleted (or to be deleted) steps.
    public var deleted: [Int64]
    /// Bytes freed (or to be freed).
    public var bytesFreed: Int64
    public var dryRun: Bool
}

extension CheckpointStore {
    /// Deletes the checkpoints `policy` does not keep.
    ///
    /// Deletion is crash-safe: each checkpoint directory is renamed into
    /// `.trash/` (atomic), the rename made durable, then removed. A crash leaves
    /// every checkpoint either listed whole or gone; `.trash/` is cleaned at the
    /// next open for writing.
    @discardableResult
    public func prune(_ policy: RetentionPolicy, protecting protected: Set<Int64> = [], dryRun: Bool = false) throws
        -> PruneReport
    {
        if !dryRun { try requireWrite("prune checkpoints") }
        let scan = try scan()
        let all = scan.checkpoints
        let alwaysKept = protected.union(protectedSteps)
        let reasons = policy.reasonsToKeep(all, protected: alwaysKept, runMonitor: run.monitor)
        var kept: [(Int64, [String])] = []
        var deleted: [Int64] = []
        var freed: Int64 = 0
        for c in all {
            if let why = reasons[c.step] {
                kept.append((c.step, why))
            } else {
                deleted.append(c.step)
                freed = Checkpoint.total([freed, c.bytes])
            }
        }
        // A step directory whose manifest is damaged or missing can never be
        // loaded; it is deleted when older than the latest readable checkpoint
        // and not protected (its size is not known). A newer one is kept for
        // someone to look at, as the latest always is.
        let latest = all.last?.step ?? -1
        for d in scan.damaged where d.isPrunable && d.step < latest && !alwaysKept.contains(d.step) {
            deleted.append(d.step)
        }
        deleted.sort()
        if !dryRun {
            for step in deleted { try delete(step: step) }
            if !deleted.isEmpty {
                try? events.append(JournalEvent.Store.prune, ["deleted": .array(deleted.map { .int($0) })])
            }
        }
        return PruneReport(kept: kept, deleted: deleted, bytesFreed: freed, dryRun: dryRun)
    }

    /// Deletes one checkpoint, crash-safely (see `prune`).
    public func delete(step: Int64) throws {
        try requireWrite("delete a checkpoint")
        let source = directory(of: step)
        guard FileSystem.exists(source) else {
            throw ResumableError(.notFound, "the run \(directory) has no checkpoint at step \(step).", path: source)
        }
        try FileSystem.createOwnedDirectory(trashDirectory)
        let trashed = FilePath.join(trashDirectory, "\(Checkpoint.directoryName(step: step)).\(UInt32.random(in: 0...UInt32.max))")
        try FileSystem.rename(source, to: trashed, replacing: false)
        try FileSystem.sync(checkpointsDirectory)
        try FileSystem.removeTree(trashed)
        logger.debug("Deleted \(source)")
    }
}
