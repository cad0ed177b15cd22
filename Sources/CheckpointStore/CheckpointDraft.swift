#if canImport(Glibc)
import Glibc
#endif
import DurableFiles
public import JSON
public import SafeTensors
import Foundation

/// A checkpoint being written in `checkpoints/.staging/`. Nothing in it is
/// visible to readers until `CheckpointStore.commit(_:)` renames it into place.
///
/// Every file is written durably (fsynced) and hashed as it is written; the
/// manifest is built from those records. It is a programmer error to use a
/// draft after committing or abandoning it.
public final class CheckpointDraft: @unchecked Sendable {
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
    public func copyFile(from source: String, named name: String? = nil) throws {
        try adopt(source, named: name) { mapped, path in
            let writer = ChecksummingWriter(file: try DurableFile.create(path))
            try writer.write(mapped.bytes)
            return try writer.finish()
        }
    }

    /// Moves a file of the same file system into the checkpoint (no copy),
    /// hashing it and making it durable first.
    public func moveFile(from source: String, named name: String? = nil) throws {
        try adopt(source, named: name) { mapped, path in
            let sha = Checksum.sha256(mapped.bytes)
            try FileSystem.sync(source)
            try FileSystem.rename(source, to: path, replacing: false)
            return (Int64(mapped.bytes.count), sha)
        }
    }

    /// Brings another program's file into the checkpoint: validates and
    /// digests it (per tensor for safetensors), lets `place` put it at its
    /// path durably and return its size and SHA-256, then records it.
    private func adopt(
        _ source: String, named name: String?,
        place: (MappedFile, String) throws -> (bytes: Int64, sha256: String)
    ) throws {
        let fileName = name ?? FilePath.lastComponent(of: source)
        let path = try reserve(fileName)
        let mapped = try MappedFile(path: source)
        mapped.adviseSequential()
        let tensorDigests = try Self.tensorDigests(ofFile: source, bytes: mapped.bytes)
        let (size, sha) = try place(mapped, path)
        files.append(FileRecord(name: fileName, bytes: size, sha256: sha, tensorCRC32C: tensorDigests))
    }

    /// Per-tensor CRC-32C of a safetensors file (validated), or `nil` for other files.
    static func tensorDigests(ofFile path: String, bytes: UnsafeRawBufferPointer) throws -> [String: String]? {
        guard path.hasSuffix(".safetensors") else { return nil }
        return try SafeTensorsHeader.parse(bytes, path: path).tensorCRC32C(in: bytes)
    }
}
