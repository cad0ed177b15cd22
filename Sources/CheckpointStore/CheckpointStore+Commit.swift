#if canImport(Glibc)
import Glibc
#endif
import DurableFiles
import Logging
import JSON

extension CheckpointStore {
    /// Starts a checkpoint at `step` in a fresh staging directory.
    /// - Throws: `.conflict` if a checkpoint at `step` is already committed.
    public func beginCheckpoint(step: Int64) throws -> CheckpointDraft {
        try requireWrite("commit a checkpoint")
        guard step >= 0 else { throw ResumableError(.usage, "a checkpoint step must be 0 or more, not \(step).") }
        if FileSystem.exists(directory(of: step)) {
            throw ResumableError(
                .conflict,
                "the run \(directory) already has a checkpoint at step \(step); committed checkpoints are never replaced.",
                path: directory(of: step))
        }
        try FileSystem.createOwnedDirectory(stagingDirectory)
        let name = "\(Checkpoint.directoryName(step: step)).\(getpid()).\(UInt32.random(in: 0...UInt32.max))"
        let staging = FilePath.join(stagingDirectory, name)
        try FileSystem.createDirectory(staging, intermediate: false)
        return CheckpointDraft(step: step, stagingDirectory: staging)
    }

    /// Commits a draft: writes `manifest.json` last, makes the staging
    /// directory durable, renames it to `checkpoints/step-N` (never replacing
    /// one), makes `checkpoints/` durable, records a `save` event, then applies
    /// `retention`.
    ///
    /// The outcome is exact: if this throws, no checkpoint at the step exists
    /// and every earlier one is intact (the staging directory is removed, or
    /// cleaned at the next open). Once the rename has made the checkpoint
    /// visible nothing throws: what fails after it — the fsync of
    /// `checkpoints/` (the checkpoint may not survive a power loss) or
    /// retention (old checkpoints stay) — is logged and returned in
    /// ``CommitResult/warnings``.
    /// - Returns: the committed checkpoint, warnings, and what retention deleted.
    @discardableResult
    public func commit(_ draft: CheckpointDraft) throws -> CommitResult {
        try requireWrite("commit a checkpoint")
        let manifest = Manifest(
            step: draft.step, epoch: draft.epoch, runID: run.id, configFingerprint: run.configFingerprint,
            metrics: draft.metrics, tags: draft.tags, metadata: draft.metadata, files: draft.files, extra: draft.extra)
        let destination = directory(of: draft.step)
        do {
            // Checked against the reader's limits before the manifest is written.
            let encoded = try manifest.encodedForWriting()
            let file = try DurableFile.create(FilePath.join(draft.stagingDirectory, "manifest.json"))
            try file.write(encoded)
            try file.sync()
            try file.close()
            try FileSystem.sync(draft.stagingDirectory)
            try FileSystem.rename(draft.stagingDirectory, to: destination, replacing: false)
        } catch {
            try? FileSystem.removeTree(draft.stagingDirectory)
            throw error
        }
        // From here the checkpoint exists and nothing throws: a failing fsync
        // of the parent means it may not survive power loss, which the caller
        // hears as a warning of a committed checkpoint, not as a failed save.
        var warnings: [String] = []
        do {
            try FileSystem.sync(checkpointsDirectory)
        } catch {
            warnings.append(
                "step \(draft.step) is committed, but \(checkpointsDirectory) could not be made durable, so it may not survive a power loss: \(error)")
        }
        let checkpoint = Checkpoint(directory: destination, manifest: manifest)
        // Only now, with the checkpoint durable, do moved files leave their source directory.
        removeSources(draft.movedSources.map { (path: $0.path, device: $0.device, inode: $0.inode) }, committedAs: draft.step)
        try? events.append(
            JournalEvent.Store.save,
            [
                "step": .int(draft.step), "epoch": .int(draft.epoch), "bytes": .int(checkpoint.bytes),
                "metrics": .object(draft.metrics.mapValues { JSONValue.number($0) }),
            ])
        logger.debug("Committed \(destination)")
        var pruned: PruneReport?
        let settings = retentionSettings
        if let retention = settings.policy {
            do {
                pruned = try prune(retention, protecting: settings.protected)
            } catch {
                warnings.append(
                    "step \(draft.step) is committed, but retention could not delete old checkpoints (they are kept; prune the run later): \(error)")
            }
        }
        for warning in warnings { logger.warning("\(warning)") }
        return CommitResult(checkpoint: checkpoint, warnings: warnings, pruned: pruned)
    }

    /// Removes the source names of files a move put in a committed checkpoint
    /// (each only while it is still the same inode), then makes their
    /// directories durable. A failure leaves the source there and is logged:
    /// the checkpoint is committed and the file is in it.
    func removeSources(_ sources: [(path: String, device: UInt64, inode: UInt64)], committedAs step: Int64) {
        guard !sources.isEmpty else { return }
        var directories: Set<String> = []
        for source in sources {
            do {
                if try SourceFile.remove(source.path, ifDevice: source.device, inode: source.inode) {
                    directories.insert(FilePath.parent(of: source.path))
                } else {
                    logger.warning("Left \(source.path) in place: it was replaced while step \(step) was committed.")
                }
            } catch {
                logger.warning("Step \(step) is committed, but its moved source \(source.path) could not be removed: \(error)")
            }
        }
        for directory in directories.sorted() {
            do {
                try FileSystem.sync(directory)
            } catch {
                logger.warning("Step \(step) is committed, but the removal of its moved sources from \(directory) may not be durable: \(error)")
            }
        }
    }

    /// Abandons a draft, removing its staging directory.
    public func abandon(_ draft: CheckpointDraft) {
        try? FileSystem.removeTree(draft.stagingDirectory)
    }

    /// Writes a checkpoint in one call: the closure fills the draft, then it is committed.
    @discardableResult
    public func commit(step: Int64, _ fill: (CheckpointDraft) throws -> Void) throws -> CommitResult {
        let draft = try beginCheckpoint(step: step)
        do {
            try fill(draft)
        } catch {
            abandon(draft)
            throw error
        }
        return try commit(draft)
    }

    /// Commits a directory of files another program wrote (any language):
    /// every regular file in it becomes a file of the checkpoint, hashed and
    /// made durable; `.safetensors` files are validated first.
    /// - Parameters:
    ///   - source: the directory; subdirectories are refused.
    ///   - move: hard-link the files into the checkpoint instead of copying
    ///     them (copied on another file system), and remove them from
    ///     `source` once the checkpoint is committed and durable (see
    ///     ``CheckpointDraft/moveFile(from:named:)``). A move interrupted after
    ///     its commit, retried at the same step, finds the checkpoint holding
    ///     these files (same inode, or same size and SHA-256) and finishes by
    ///     removing the sources; a checkpoint at the step with other content is
    ///     a `.conflict`, as for a copy.
    ///   - configure: sets epoch, metrics, tags and metadata on the draft.
    @discardableResult
    public func commitDirectory(
        _ source: String, step: Int64, move: Bool = false, configure: (CheckpointDraft) throws -> Void = { _ in }
    ) throws -> CommitResult {
        guard FileSystem.isDirectory(source) else {
            throw ResumableError(.notFound, "\(source) is not a directory; give the directory your program wrote its checkpoint files to.", path: source)
        }
        let names = try FileSystem.contents(of: source).sorted()
        guard !names.isEmpty else {
            throw ResumableError(.usage, "\(source) is empty; there is nothing to commit.", path: source)
        }
        for name in names where FileSystem.isDirectory(FilePath.join(source, name)) {
            throw ResumableError(
                .usage, "\(source) contains the directory \(name); a checkpoint holds plain files only.",
                path: FilePath.join(source, name))
        }
        if names.contains("manifest.json") {
            throw ResumableError(
                .usage, "\(source) contains a manifest.json; Resumable writes the manifest itself. Rename or remove that file.",
                path: FilePath.join(source, "manifest.json"))
        }
        if move, FileSystem.exists(directory(of: step)), let done = try finishInterruptedMove(source, names: names, step: step) {
            return CommitResult(checkpoint: done, warnings: [], pruned: nil)
        }
        return try commit(step: step) { draft in
            // Metadata the manifest could not hold is refused before any file
            // is copied or moved (a moved file must not end up in a removed draft).
            try configure(draft)
            try Manifest.checkWritable(metadata: draft.metadata, extra: draft.extra)
            for name in names {
                let path = FilePath.join(source, name)
                if move { try draft.moveFile(from: path, named: name) } else { try draft.copyFile(from: path, named: name) }
            }
        }
    }

    /// A `commit --move` killed after its commit and before it removed the
    /// sources leaves the files both in `source` and in the checkpoint at
    /// `step`. When the checkpoint holds every file left in `source` — the
    /// same inode, or the same size and SHA-256 — this removes the sources
    /// and returns the checkpoint; otherwise `nil` (the commit then conflicts).
    func finishInterruptedMove(_ source: String, names: [String], step: Int64) throws -> Checkpoint? {
        try requireWrite("commit a checkpoint")
        guard let checkpoint = try? self.checkpoint(step: step) else { return nil }
        var matched: [(path: String, device: UInt64, inode: UInt64)] = []
        for name in names {
            guard let record = checkpoint.manifest.files.first(where: { $0.name == name }),
                let file = try? SourceFile(path: FilePath.join(source, name), followSymlinks: false)
            else { return nil }
            defer { file.close() }
            guard file.size == record.bytes else { return nil }
            var st = stat()
            let sameInode = lstat(checkpoint.path(of: name), &st) == 0 && UInt64(st.st_dev) == file.device && UInt64(st.st_ino) == file.inode
            if !sameInode {
                guard let digest = try? CheckpointDraft.digest(file), digest.sha256 == record.sha256 else { return nil }
            }
            matched.append((path: file.path, device: file.device, inode: file.inode))
        }
        logger.notice(
            "Step \(step) was already committed from these files by a move that was interrupted before it removed them; removing the \(matched.count) file(s) left in \(source).")
        removeSources(matched, committedAs: step)
        return checkpoint
    }
}

/// What a commit made: the checkpoint, which exists whenever a result is
/// returned, and what went wrong after it became visible.
public struct CommitResult: Sendable {
    /// The committed checkpoint.
    public var checkpoint: Checkpoint
    /// Problems after the checkpoint became visible (it may not survive a
    /// power loss; retention could not run). Empty when everything held.
    public var warnings: [String]
    /// What the store's retention deleted, when it ran.
    public var pruned: PruneReport?
}
