#if canImport(Glibc)
import Glibc
#endif
import DurableFiles
public import JSON
public import SafeTensors
import FoundationEssentials

/// A checkpoint being written in `checkpoints/.staging/`. Nothing in it is
/// visible to readers until `CheckpointStore.commit(_:)` renames it into place.
///
/// Every file is written durably (fsynced) and hashed as it is written; the
/// manifest is built from those records. It is a programmer error to use a
/// draft after committing or abandoning it.
///
/// Not `Sendable`: a draft is mutable and belongs to one thread at a time.
/// An ``AsyncCheckpointWriter`` fills it on the caller's thread and hands it
/// over, whole, to its writing thread.
public final class CheckpointDraft {
    /// The step the checkpoint will be committed at.
    public let step: Int64
    /// The staging directory the files are written to.
    public let stagingDirectory: String
    /// The epoch recorded in the manifest.
    public var epoch: Int64 = 0
    /// Metrics recorded in the manifest (name → value).
    public var metrics: [String: Double] = [:]
    /// Tags recorded in the manifest (`pinned` protects from retention).
    public var tags: [String] = []
    /// Free metadata recorded in the manifest.
    public var metadata: [String: JSONValue] = [:]
    /// Further top-level manifest keys (the training summary, for one).
    public var extra: [String: JSONValue] = [:]
    /// Records of the files written so far.
    public private(set) var files: [FileRecord] = []

    init(step: Int64, stagingDirectory: String) {
        self.step = step
        self.stagingDirectory = stagingDirectory
    }

    private func reserve(_ name: String) throws -> String {
        try Manifest.validateFileName(name, manifestPath: "the checkpoint being written")
        guard !files.contains(where: { $0.name == name }) else {
            throw ResumableError(.usage, "the checkpoint being written already has a file named \"\(name)\".")
        }
        return FilePath.join(stagingDirectory, name)
    }

    /// Writes tensors as a safetensors file, streamed from the callers' memory.
    ///
    /// A large set is split into shards written and hashed in parallel:
    /// `model-00001-of-00003.safetensors`… with the Hugging Face index
    /// `model.safetensors.index.json` (tensor → shard). One shard is the
    /// single file `name`, nothing else. Each shard's header gets `metadata`.
    /// Read either layout with ``Checkpoint/tensors(named:)``.
    /// - Parameter shards: how many files (see ``ShardPolicy``; `.automatic`
    ///   makes one per 64 MiB of payload, at most two per processor with
    ///   SHA-NI, one without, and 8).
    public func writeTensors(
        _ tensors: [TensorSource], metadata: [String: String] = [:], named name: String = "model.safetensors",
        shards: ShardPolicy = .automatic
    ) throws {
        let indexName = ShardLayout.indexName(of: name)
        guard !files.contains(where: { $0.name == name || $0.name == indexName || ShardLayout.isShard($0.name, of: name) }) else {
            throw ResumableError(.usage, "the checkpoint being written already has tensors named \"\(name)\".")
        }
        let plan = try ShardLayout.plan(tensors, named: name, policy: shards)
        if plan.index != nil { try Manifest.validateFileName(indexName, manifestPath: "the checkpoint being written") }
        let specs = try plan.files.map {
            SafeTensorsWriter.FileSpec(path: try reserve($0.name), tensors: $0.tensors, metadata: metadata)
        }
        let written = try SafeTensorsWriter.write(files: specs)
        for (file, w) in zip(plan.files, written) {
            files.append(FileRecord(name: file.name, bytes: w.bytes, sha256: w.sha256, tensorCRC32C: w.tensorCRC32C))
        }
        if let index = plan.index { try writeJSON(named: indexName, index.json) }
    }

    /// Writes a file from bytes.
    public func writeFile(named name: String, bytes: [UInt8]) throws {
        let path = try reserve(name)
        let writer = ChecksummingWriter(file: try DurableFile.create(path))
        try writer.write(bytes)
        let (size, sha) = try writer.finish()
        files.append(FileRecord(name: name, bytes: size, sha256: sha))
    }

    /// Writes a JSON value as a file (sorted keys, indented).
    public func writeJSON(named name: String, _ value: JSONValue) throws {
        try writeFile(named: name, bytes: Array(value.prettyPrinted().utf8))
    }

    /// Writes any `Encodable` value as JSON with sorted keys (`state.json` by default).
    public func writeState<T: Encodable>(_ value: T, named name: String = "state.json") throws {
        try writeFile(named: name, bytes: try Self.encodedState(value))
    }

    /// The bytes `writeState` writes for `value` (for a file written later,
    /// by an ``AsyncCheckpointWriter``).
    /// - Throws: `.usage` when `value` cannot be encoded.
    public static func encodedState<T: Encodable>(_ value: T) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        let data: Data
        do {
            data = try encoder.encode(value)
        } catch {
            throw ResumableError(.usage, "the training state cannot be encoded as JSON: \(error).", cause: error)
        }
        return [UInt8](data)
    }

    /// Copies a file another program wrote into the checkpoint, hashing it.
    /// Safetensors files (by extension) are validated and get per-tensor checksums.
    ///
    /// The file is read with `pread`, never mapped, and must not change while
    /// it is copied: one that shrinks, grows or is rewritten meanwhile fails
    /// with `.corrupt` ("changed while it was being committed").
    public func copyFile(from source: String, named name: String? = nil) throws {
        let fileName = name ?? FilePath.lastComponent(of: source)
        let path = try reserve(fileName)
        let file = try SourceFile(path: source)
        defer { file.close() }
        files.append(try Self.copy(file, to: path, named: fileName))
    }

    /// Moves a regular file into the checkpoint without copying it, when it
    /// is on the checkpoint's file system.
    ///
    /// The file is hard-linked into the staging directory, made durable and
    /// hashed there; the source name is removed only by ``CheckpointStore/commit(_:)``,
    /// after the checkpoint is committed and durable. A crash at any instant
    /// therefore leaves the file in its directory, in the committed
    /// checkpoint, or both — never only in staging, which the next writer
    /// cleans. Until the commit returns the source and the checkpoint's file
    /// are one inode: nothing may write to the source meanwhile. On another
    /// file system (or one without hard links) the file is copied instead
    /// and the source removed the same way after the commit.
    /// - Throws: `.usage` for a symbolic link or anything but a regular file;
    ///   `.corrupt` when the file changes while it is hashed.
    public func moveFile(from source: String, named name: String? = nil) throws {
        let fileName = name ?? FilePath.lastComponent(of: source)
        let path = try reserve(fileName)
        let file = try SourceFile(path: source, followSymlinks: false)
        defer { file.close() }
        let record: FileRecord
        if try file.link(to: path) {
            do {
                let staged = try SourceFile(path: path, followSymlinks: false, reportedAs: source)
                defer { staged.close() }
                guard staged.device == file.device, staged.inode == file.inode else { throw file.changed() }
                // The file's writeback (fsync) and its hashing (reads from the page cache) run
                // side by side: a commit of a file another program just wrote costs the longer
                // of the two, not their sum. Both must succeed.
                let outcomes = Parallel.map([false, true]) { hashing -> (sha256: String, tensorCRC32C: [String: String]?)? in
                    if hashing { return try Self.digest(staged) }
                    try staged.sync()
                    return nil
                }
                let (sha, digests) = try outcomes[0].get() ?? outcomes[1].get()!
                record = FileRecord(name: fileName, bytes: staged.size, sha256: sha, tensorCRC32C: digests)
            } catch {
                _ = unlink(path)
                throw error
            }
        } else {
            record = try Self.copy(file, to: path, named: fileName)
        }
        files.append(record)
        movedSources.append(MovedSource(path: source, device: file.device, inode: file.inode))
    }

    /// A source file of ``moveFile(from:named:)``, removed once the checkpoint is committed.
    struct MovedSource {
        var path: String
        var device: UInt64
        var inode: UInt64
    }

    /// Sources that ``CheckpointStore/commit(_:)`` removes after the checkpoint is durable.
    private(set) var movedSources: [MovedSource] = []

    /// How a source file is read: the parts in order, each a tensor's bytes
    /// (its CRC-32C is recorded) or not (the header of a safetensors file, or
    /// the whole of any other file). Safetensors files (by extension) have
    /// their header read and validated first.
    static func parts(of source: SourceFile) throws -> [(tensor: String?, range: Range<Int64>)] {
        guard source.path.hasSuffix(".safetensors") else { return [(nil, 0..<source.size)] }
        let first = try source.read(at: 0, count: Int(min(8, source.size)))
        let length = try first.withUnsafeBytes { raw in
            try SafeTensorsHeader.headerLength(prefix: raw, fileSize: Int(source.size), path: source.path)
        }
        guard let length else {
            // Fewer than 8 bytes: the parser says so.
            _ = try first.withUnsafeBytes { try SafeTensorsHeader.parse($0, path: source.path) }
            throw ResumableError(.corrupt, "\(source.path) is not a valid safetensors file.", path: source.path)
        }
        let prefix = try source.read(at: 0, count: 8 + length)
        let header = try prefix.withUnsafeBytes { raw in
            try SafeTensorsHeader.parse(prefix: raw, headerLength: length, fileSize: Int(source.size), path: source.path)
        }
        let start = Int64(header.dataStart)
        var parts: [(tensor: String?, range: Range<Int64>)] = [(nil, 0..<start)]
        for t in header.tensors {
            parts.append((t.name, (start + Int64(t.dataOffsets.lowerBound))..<(start + Int64(t.dataOffsets.upperBound))))
        }
        return parts
    }

    /// Copies `source` to a new durable file at `path`, read with `pread`
    /// straight into the writer's buffers, hashing it as it streams.
    /// - Throws: `.corrupt` when the source changes meanwhile; no file is left at `path` on failure.
    static func copy(_ source: SourceFile, to path: String, named name: String) throws -> FileRecord {
        let writer = ChecksummingWriter(file: try DurableFile.create(path))
        do {
            let parts = try parts(of: source)
            var digests: [String: String] = [:]
            for part in parts {
                if part.tensor != nil { writer.beginSegment() }
                var offset = part.range.lowerBound
                try writer.write(count: Int(part.range.upperBound - part.range.lowerBound)) { piece in
                    try source.read(at: offset, into: piece)
                    offset += Int64(piece.count)
                }
                if let tensor = part.tensor { digests[tensor] = writer.endSegment() }
            }
            try source.checkUnchanged()
            let (size, sha) = try writer.finish()
            let isSafeTensors = source.path.hasSuffix(".safetensors")
            return FileRecord(name: name, bytes: size, sha256: sha, tensorCRC32C: isSafeTensors ? digests : nil)
        } catch {
            writer.abandon()
            try? FileSystem.removeTree(path)
            throw error
        }
    }

    /// The SHA-256 of `source` and, for a safetensors file, each tensor's
    /// CRC-32C, read with `pread`.
    /// - Throws: `.corrupt` when the source changes meanwhile.
    static func digest(_ source: SourceFile) throws -> (sha256: String, tensorCRC32C: [String: String]?) {
        let parts = try parts(of: source)
        let chunk = 1 << 20
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 4096)
        defer { buffer.deallocate() }
        var sha = Checksum()
        var digests: [String: String] = [:]
        for part in parts {
            var crc = CRC32C()
            var offset = part.range.lowerBound
            while offset < part.range.upperBound {
                let n = Int(min(Int64(chunk), part.range.upperBound - offset))
                let piece = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<n])
                try source.read(at: offset, into: piece)
                sha.update(UnsafeRawBufferPointer(piece))
                if part.tensor != nil { crc.update(UnsafeRawBufferPointer(piece)) }
                offset += Int64(n)
            }
            if let tensor = part.tensor { digests[tensor] = crc.finalize() }
        }
        try source.checkUnchanged()
        return (sha.finalize(), source.path.hasSuffix(".safetensors") ? digests : nil)
    }
}
