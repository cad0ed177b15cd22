import DurableFiles

/// One tensor set stored as one safetensors file or as several shards with a
/// Hugging Face index (`model.safetensors.index.json`), read as one namespace.
///
/// Its reading API mirrors ``SafeTensorsFile``: opening maps every file and
/// validates its header (no tensor byte is read); views stay valid while the
/// object lives. A sharded set is checked against its index before use: every
/// tensor of the index is in the shard it names, every tensor of a shard is in
/// the index, no tensor is in two shards.
public final class SafeTensorsShards: Sendable {
    /// The index for a sharded set, the file itself for a single file.
    public let path: String
    /// The files, in shard order.
    public let files: [SafeTensorsFile]
    /// Every tensor: the files' tensors in shard order, each file's in data
    /// order. A tensor's `dataOffsets` are relative to its own file.
    public let tensors: [TensorInfo]
    private let location: [String: (file: Int, tensor: Int)]

    /// A set of one file.
    public init(file: SafeTensorsFile) {
        path = file.path
        files = [file]
        tensors = file.tensors
        var location: [String: (file: Int, tensor: Int)] = [:]
        for (i, t) in file.tensors.enumerated() { location[t.name] = (0, i) }
        self.location = location
    }

    /// Opens the single safetensors file at `path`.
    /// - Parameter followingSymlinks: `false` refuses a symbolic link (`.corrupt`).
    /// - Throws: `.notFound` if the file is missing, `.corrupt` if it is not valid safetensors.
    public convenience init(path: String, followingSymlinks: Bool = true) throws {
        self.init(file: try SafeTensorsFile(path: path, followingSymlinks: followingSymlinks))
    }

    /// Opens the shards that the index at `indexPath` names (files beside it).
    /// - Parameter expectedShards: the shard files known to belong to the set
    ///   (the ones a checkpoint's manifest lists); one the index does not name
    ///   is an error. `nil` checks nothing.
    /// - Throws: `.notFound` if the index is missing; `.corrupt` for a damaged
    ///   index or shard, a missing or unnamed shard, or a tensor the index and
    ///   the shards disagree on.
    /// - Parameter followingSymlinks: `false` refuses a symbolic link in place
    ///   of the index or a shard (`.corrupt`).
    public init(indexPath: String, expectedShards: Set<String>? = nil, followingSymlinks: Bool = true) throws {
        path = indexPath
        let directory = FilePath.parent(of: indexPath)
        // The index and the shards the caller knows of are opened at once: on
        // a cold cache each is a disk round trip.
        let known = expectedShards?.sorted() ?? []
        let opened = Parallel.map([nil] + known.map { Optional($0) }) { name -> Opened in
            guard let name else { return Opened(index: try ShardIndex(contentsOf: indexPath, followingSymlinks: followingSymlinks)) }
            return Opened(shard: try SafeTensorsFile(path: FilePath.join(directory, name), followingSymlinks: followingSymlinks))
        }
        let index = try opened[0].get().index ?? ShardIndex(contentsOf: indexPath, followingSymlinks: followingSymlinks)
        var prefetched: [String: Result<Opened, any Error>] = [:]
        for (name, result) in zip(known, opened.dropFirst()) { prefetched[name] = result }
        let names = index.shardNames
        if let expectedShards, let extra = expectedShards.subtracting(names).sorted().first {
            throw Self.mismatch(indexPath, "the shard \(extra) belongs to the set but the index names none of its tensors")
        }
        var files: [SafeTensorsFile] = []
        var tensors: [TensorInfo] = []
        var location: [String: (file: Int, tensor: Int)] = [:]
        for (f, name) in names.enumerated() {
            let file: SafeTensorsFile
            do {
                if let f = try prefetched[name]?.get().shard {
                    file = f
                } else {
                    file = try SafeTensorsFile(path: FilePath.join(directory, name), followingSymlinks: followingSymlinks)
                }
            } catch let error as ResumableError where error.code == .notFound {
                throw Self.mismatch(indexPath, "the shard \(name) is missing")
            }
            for (i, t) in file.tensors.enumerated() {
                if let seen = location[t.name] {
                    throw Self.mismatch(indexPath, "tensor \"\(t.name)\" is in both \(names[seen.file]) and \(name)")
                }
                guard let listed = index.weightMap[t.name] else {
                    throw Self.mismatch(indexPath, "the shard \(name) holds tensor \"\(t.name)\", which the index does not list")
                }
                guard listed == name else {
                    throw Self.mismatch(indexPath, "tensor \"\(t.name)\" is in \(name), but the index says \(listed)")
                }
                location[t.name] = (f, i)
                tensors.append(t)
            }
            files.append(file)
        }
        if let absent = index.weightMap.keys.sorted().first(where: { location[$0] == nil }) {
            throw Self.mismatch(indexPath, "it puts tensor \"\(absent)\" in \(index.weightMap[absent] ?? ""), which has no such tensor")
        }
        self.files = files
        self.tensors = tensors
        self.location = location
    }

    /// The headers' string maps merged (the first file's value wins where they
    /// differ; a sharded set written by Resumable has the same map in every shard).
    public var metadata: [String: String] {
        files.reversed().reduce(into: [:]) { merged, file in merged.merge(file.metadata) { _, first in first } }
    }

    /// The names of all tensors, in the order of ``tensors``.
    public var names: [String] { tensors.map(\.name) }

    /// Whether the set is stored as several files with an index.
    public var isSharded: Bool { path != files.first?.path }

    /// The entry of the tensor called `name`, or `nil`.
    public func info(_ name: String) -> TensorInfo? { location[name].map { files[$0.file].tensors[$0.tensor] } }

    /// The file holding the tensor called `name`, or `nil`.
    public func file(containing name: String) -> SafeTensorsFile? { location[name].map { files[$0.file] } }

    /// The raw little-endian bytes of a tensor, without copying.
    /// - Throws: `.notFound` if there is no such tensor.
    public func bytes(of name: String) throws -> UnsafeRawBufferPointer {
        try containing(name).bytes(of: name)
    }

    /// A copy of a tensor's elements as an array of `T`.
    /// - Throws: `.notFound` if there is no such tensor; `.usage` when `T`'s
    ///   size does not match the tensor's dtype.
    public func array<T: BitwiseCopyable>(_ name: String, as type: T.Type = T.self) throws -> [T] {
        try containing(name).array(name, as: type)
    }

    private func containing(_ name: String) throws -> SafeTensorsFile {
        guard let file = file(containing: name) else {
            throw ResumableError(.notFound, "\(path) has no tensor named \"\(name)\".", path: path)
        }
        return file
    }

    /// Shards that do not match their index: what differs, which index, what to do.
    static func mismatch(_ indexPath: String, _ reason: String) -> ResumableError {
        ResumableError(
            .corrupt,
            "the shards of \(indexPath) do not match it: \(reason). A file of the sharded tensor set is missing or damaged; restore it, or resume from another checkpoint.",
            path: indexPath)
    }
}

/// What one job of opening a sharded set produced.
private struct Opened {
    var index: ShardIndex?
    var shard: SafeTensorsFile?
}
