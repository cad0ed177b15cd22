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
    /// If this throws, no checkpoint at the step exists and every earlier one
    /// is intact; the staging directory is removed (or cleaned at the next open).
    /// - Returns: the committed checkpoint.
    @discardableResult
    public func commit(_ draft: CheckpointDraft) throws -> Checkpoint {
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
        // From here the checkpoint exists; a failing fsync of the parent means
        // it may not survive power loss, which the caller must hear about.
        try FileSystem.sync(checkpointsDirectory)
        let checkpoint = Checkpoint(directory: destination, manifest: manifest)
        try? events.append(
            "save",
            [
                "step": .int(draft.step), "epoch": .int(draft.epoch), "bytes": .int(checkpoint.bytes),
                "metrics": .object(draft.metrics.mapValues { JSONValue.number($0) }),
            ])
        logger.debug("Committed \(destination)")
        if let retention {
            try prune(retention, protecting: protectedSteps)
        }
        return checkpoint
    }

    /// Abandons a draft, removing its staging directory.
    public func abandon(_ draft: CheckpointDraft) {
        try? FileSystem.removeTree(draft.stagingDirectory)
    }

    /// Writes a checkpoint in one call: the closure fills the draft, then it is committed.
    @discardableResult
    public func commit(step: Int64, _ fill: (CheckpointDraft) throws -> Void) throws -> Checkpoint {
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
    ///   - move: rename files into staging instead of copying (same file system only).
    ///   - configure: sets epoch, metrics, tags and metadata on the draft.
    @discardableResult
    public func commitDirectory(
        _ source: String, step: Int64, move: Bool = false, configure: (CheckpointDraft) throws -> Void = { _ in }
    ) throws -> Checkpoint {
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
}
