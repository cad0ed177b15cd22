import DurableFiles
public import SafeTensors
import FoundationEssentials

extension Checkpoint {
    /// Opens one of the checkpoint's tensor files (validated, memory-mapped):
    /// the single file `name`, or, when the manifest lists its index
    /// (`model.safetensors.index.json`) instead, all its shards as one set.
    /// - Throws: `.notFound` when neither is there; `.corrupt` for a damaged
    ///   file or index, or shards that do not match the index and the manifest.
    public func tensors(named name: String = "model.safetensors") throws -> SafeTensorsShards {
        let listed = Set(manifest.files.map(\.name))
        let indexName = ShardLayout.indexName(of: name)
        guard !listed.contains(name), listed.contains(indexName) else {
            return try SafeTensorsShards(path: path(of: name), followingSymlinks: false)
        }
        do {
            return try SafeTensorsShards(
                indexPath: path(of: indexName), expectedShards: listed.filter { ShardLayout.isShard($0, of: name) },
                followingSymlinks: false)
        } catch let error as ResumableError where error.code == .notFound && error.path == path(of: indexName) {
            throw ResumableError(
                .corrupt,
                "\(path(of: indexName)), the index of the sharded \(name), is missing though the manifest lists it. The checkpoint is damaged; run `resumable verify` on it, or resume from another checkpoint.",
                path: path(of: indexName))
        }
    }

    /// The names under which ``tensors(named:)`` opens the checkpoint's tensor
    /// sets: each single safetensors file, and each sharded set by the name of
    /// its index without `.index.json` (`model.safetensors`). Sorted.
    public var tensorSetNames: [String] {
        let names = manifest.files.map(\.name)
        let sharded = names.filter { $0.hasSuffix(".safetensors.index.json") }.map { String($0.dropLast(".index.json".count)) }
        let single = names.filter { name in
            name.hasSuffix(".safetensors") && !sharded.contains { ShardLayout.isShard(name, of: $0) }
        }
        return Set(sharded + single).sorted()
    }

    /// Decodes a JSON file of the checkpoint (`state.json` by default) as `T`.
    /// - Throws: `.notFound` if the file is missing, `.corrupt` if it does not decode.
    public func decodeState<T: Decodable>(_ type: T.Type = T.self, named name: String = "state.json") throws -> T {
        let filePath = path(of: name)
        let bytes = try FileSystem.readFile(filePath)
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(
            positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        do {
            return try decoder.decode(T.self, from: Data(bytes))
        } catch {
            throw ResumableError(
                .corrupt, "\(filePath) does not hold the state this program expects: \(error). Was it written by another program or version?",
                path: filePath, cause: error)
        }
    }
}
