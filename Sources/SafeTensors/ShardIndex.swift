import DurableFiles
public import JSON

/// The index of a sharded tensor file, in the Hugging Face format
/// (`model.safetensors.index.json`):
/// `{"metadata": {"total_size": BYTES}, "weight_map": {"tensor": "model-00001-of-00002.safetensors", …}}`.
public struct ShardIndex: Sendable, Hashable {
    /// The tensors' payload bytes in all shards (`metadata.total_size`), when recorded.
    public var totalSize: Int64?
    /// Tensor name → the shard file (a plain file name beside the index) holding it.
    public var weightMap: [String: String]

    /// An index mapping each tensor to its shard.
    public init(totalSize: Int64?, weightMap: [String: String]) {
        self.totalSize = totalSize
        self.weightMap = weightMap
    }

    /// The shard files the index names, each once, sorted.
    public var shardNames: [String] { Set(weightMap.values).sorted() }

    /// The index as written to disk.
    public var json: JSONValue {
        var metadata: [String: JSONValue] = [:]
        if let totalSize { metadata["total_size"] = .int(totalSize) }
        return .object([
            "metadata": .object(metadata),
            "weight_map": .object(weightMap.mapValues { .string($0) }),
        ])
    }

    /// Indexes larger than this are refused.
    public static let maxBytes = 64 << 20

    /// Reads and validates the index at `path`.
    /// - Throws: `.notFound` when it is missing; `.corrupt` when it is not an
    ///   index or names a shard that is not a plain file name.
    /// - Parameter followingSymlinks: `false` refuses a symbolic link at `path` (`.corrupt`).
    public init(contentsOf path: String, followingSymlinks: Bool = true) throws {
        try self.init(
            parsing: try FileSystem.readFile(path, limit: Self.maxBytes, followingSymlinks: followingSymlinks), path: path)
    }

    /// Parses and validates an index's bytes; `path` names it in errors.
    /// - Throws: `.corrupt` when the bytes are not an index or name a shard
    ///   that is not a plain file name.
    public init(parsing bytes: [UInt8], path: String) throws {
        let value: JSONValue
        do {
            value = try JSONParser(maxDepth: 8).parse(bytes)
        } catch {
            throw Self.invalid(path, "it is not valid JSON (\(error))", cause: error)
        }
        guard case .object(let root) = value else { throw Self.invalid(path, "it is not a JSON object") }
        var totalSize: Int64?
        if let metadata = root["metadata"] {
            guard case .object(let m) = metadata else { throw Self.invalid(path, "\"metadata\" is not an object") }
            totalSize = m["total_size"]?.intValue
        }
        guard case .object(let map)? = root["weight_map"] else {
            throw Self.invalid(path, "it has no \"weight_map\" object")
        }
        guard !map.isEmpty else { throw Self.invalid(path, "its \"weight_map\" names no tensor") }
        var weightMap: [String: String] = [:]
        for (tensor, shard) in map {
            guard let file = shard.stringValue else {
                throw Self.invalid(path, "the shard of tensor \"\(tensor)\" is not a string")
            }
            guard FilePath.isPlainName(file) else {
                throw Self.invalid(
                    path,
                    "tensor \"\(tensor)\" is mapped to \"\(FilePath.printable(file))\", which is not a plain file name beside the index")
            }
            weightMap[tensor] = file
        }
        self.init(totalSize: totalSize, weightMap: weightMap)
    }

    /// A damaged or hostile index: what is wrong, which file, what to do.
    static func invalid(_ path: String, _ reason: String, cause: (any Error)? = nil) -> ResumableError {
        ResumableError(
            .corrupt,
            "\(path) is not a valid safetensors shard index: \(reason). The index lists which shard holds each tensor; restore it, or resume from another checkpoint.",
            path: path, cause: cause)
    }
}
