import DurableFiles
public import JSON
public import SafeTensors

/// What differs between two checkpoints: tensor by tensor over all their
/// safetensors files, their other files, and their metadata (manifest keys
/// and the contents of JSON files such as `state.json`).
///
/// Tensors are matched by name across all safetensors files, so a model
/// sharded differently still compares. The step and the creation time are not
/// reported as differences (they always differ).
public struct CheckpointComparison: Sendable {
    /// The verdict on one tensor.
    public enum TensorStatus: String, Sendable {
        /// Bitwise identical.
        case equal
        /// Different bytes, but no element differs by more than the tolerance.
        case withinTolerance = "within_tolerance"
        /// Different values (or different bytes of a type that is not decoded).
        case different
        /// Present in the first checkpoint only.
        case onlyInA = "only_in_a"
        /// Present in the second checkpoint only.
        case onlyInB = "only_in_b"
        /// Different element types.
        case dtypeDiffers = "dtype_differs"
        /// Same element type, different shapes.
        case shapeDiffers = "shape_differs"

        /// Whether the tensor counts as the same on both sides.
        public var isSame: Bool { self == .equal || self == .withinTolerance }
    }

    /// One tensor on either side.
    public struct TensorEntry: Sendable {
        public var name: String
        /// The file holding it in each checkpoint, `nil` where it is absent.
        public var fileA: String?
        public var fileB: String?
        public var infoA: TensorInfo?
        public var infoB: TensorInfo?
        public var status: TensorStatus
        /// For same dtype and shape: how the values differ.
        public var difference: TensorDifference?
    }

    /// The verdict on a file that is not safetensors.
    public enum FileStatus: String, Sendable {
        case equal, different
        case onlyInA = "only_in_a"
        case onlyInB = "only_in_b"
    }

    /// One file that is not safetensors, compared by its recorded SHA-256.
    public struct FileEntry: Sendable {
        public var name: String
        public var status: FileStatus
    }

    /// A metadata key with different values; `nil` where the key is absent.
    public struct ValueDifference: Sendable {
        /// `epoch`, `metrics.loss`, `tags`, `metadata.note`, `state.json:optimizer.lr`.
        public var key: String
        public var a: JSONValue?
        public var b: JSONValue?
    }

    public var a: Checkpoint
    public var b: Checkpoint
    /// The largest absolute difference still counted as equal.
    public var tolerance: Double
    /// Every tensor of either side, sorted by name.
    public var tensors: [TensorEntry]
    /// Every other file of either side, sorted by name.
    public var files: [FileEntry]
    /// Metadata keys whose values differ, sorted by key.
    public var metadata: [ValueDifference]

    /// Whether every tensor is on both sides with the same dtype, shape and values (within the tolerance).
    public var tensorsAreIdentical: Bool { tensors.allSatisfy { $0.status.isSame } }

    /// Manifest keys never reported: they always differ or are compared elsewhere.
    static let ignoredManifestKeys: Set<String> = ["format", "version", "step", "created_at", "edited_at", "files"]

    /// Compares two checkpoints.
    /// - Parameter tolerance: tensors whose elements differ by at most this much count as equal.
    /// - Throws: `.corrupt` when a safetensors or JSON file cannot be read, `.notFound` when one is missing.
    public static func compare(_ a: Checkpoint, _ b: Checkpoint, tolerance: Double = 0) throws -> CheckpointComparison {
        var result = CheckpointComparison(a: a, b: b, tolerance: tolerance, tensors: [], files: [], metadata: [])
        try result.compareTensors()
        result.compareFiles()
        try result.compareMetadata()
        return result
    }

    /// Safetensors files and shard indexes: compared tensor by tensor, not as files.
    static func isTensorFile(_ name: String) -> Bool {
        name.hasSuffix(".safetensors") || name.hasSuffix(".safetensors.index.json")
    }

    private mutating func compareTensors() throws {
        let filesA = try Self.openTensorFiles(of: a)
        let filesB = try Self.openTensorFiles(of: b)
        let indexA = Self.index(filesA)
        let indexB = Self.index(filesB)
        for name in Set(indexA.keys).union(indexB.keys).sorted() {
            let left = indexA[name]
            let right = indexB[name]
            var entry = TensorEntry(
                name: name, fileA: left.map { FilePath.lastComponent(of: $0.file.path) },
                fileB: right.map { FilePath.lastComponent(of: $0.file.path) }, infoA: left?.info, infoB: right?.info,
                status: .equal, difference: nil)
            switch (left, right) {
            case (nil, _): entry.status = .onlyInB
            case (_, nil): entry.status = .onlyInA
            case (let l?, let r?):
                if l.info.dtype != r.info.dtype {
                    entry.status = .dtypeDiffers
                } else if l.info.shape != r.info.shape {
                    entry.status = .shapeDiffers
                } else {
                    let d = TensorDifference.compare(l.file.bytes(of: l.info), r.file.bytes(of: r.info), dtype: l.info.dtype)
                    entry.difference = d
                    if d.isIdentical {
                        entry.status = .equal
                    } else if let m = d.maxAbsoluteDifference, m <= tolerance {
                        entry.status = .withinTolerance
                    } else {
                        entry.status = .different
                    }
                }
            }
            tensors.append(entry)
        }
    }

    private static func openTensorFiles(of checkpoint: Checkpoint) throws -> [SafeTensorsFile] {
        try checkpoint.tensorSetNames.flatMap { try checkpoint.tensors(named: $0).files }
    }

    /// Tensors by name; a name found in two files of one checkpoint is kept under `file/name` for the second.
    private static func index(_ files: [SafeTensorsFile]) -> [String: (file: SafeTensorsFile, info: TensorInfo)] {
        var index: [String: (file: SafeTensorsFile, info: TensorInfo)] = [:]
        for file in files {
            for info in file.tensors {
                let key = index[info.name] == nil ? info.name : FilePath.lastComponent(of: file.path) + "/" + info.name
                index[key] = (file, info)
            }
        }
        return index
    }

    private mutating func compareFiles() {
        let left = Dictionary(a.manifest.files.filter { !Self.isTensorFile($0.name) }.map { ($0.name, $0) }, uniquingKeysWith: { x, _ in x })
        let right = Dictionary(b.manifest.files.filter { !Self.isTensorFile($0.name) }.map { ($0.name, $0) }, uniquingKeysWith: { x, _ in x })
        for name in Set(left.keys).union(right.keys).sorted() {
            let status: FileStatus
            switch (left[name], right[name]) {
            case (nil, _): status = .onlyInB
            case (_, nil): status = .onlyInA
            case (let l?, let r?): status = l.sha256 == r.sha256 && l.bytes == r.bytes ? .equal : .different
            }
            files.append(FileEntry(name: name, status: status))
        }
    }

    private mutating func compareMetadata() throws {
        var left = Self.flatten(a.manifest.json, ignoring: Self.ignoredManifestKeys)
        var right = Self.flatten(b.manifest.json, ignoring: Self.ignoredManifestKeys)
        // The contents of JSON files that differ (state.json and the like).
        for file in files where file.status == .different && file.name.hasSuffix(".json") {
            for (key, value) in Self.flatten(try Self.readJSON(a.path(of: file.name)), ignoring: []) {
                left[file.name + ":" + key] = value
            }
            for (key, value) in Self.flatten(try Self.readJSON(b.path(of: file.name)), ignoring: []) {
                right[file.name + ":" + key] = value
            }
        }
        for key in Set(left.keys).union(right.keys).sorted() where left[key] != right[key] {
            metadata.append(ValueDifference(key: key, a: left[key], b: right[key]))
        }
    }

    private static func readJSON(_ path: String) throws -> JSONValue {
        let bytes = try FileSystem.readFile(path, limit: 64 << 20)
        do {
            return try JSONParser(maxDepth: 64).parse(bytes)
        } catch {
            throw ResumableError(.corrupt, "\(path) is not valid JSON (\(error)); run `resumable verify` on its checkpoint.", path: path, cause: error)
        }
    }

    /// Objects flattened to dotted key paths; arrays and scalars are leaves (an empty object has none).
    static func flatten(_ value: JSONValue, ignoring ignored: Set<String>, prefix: String = "") -> [String: JSONValue] {
        guard case .object(let o) = value else { return [prefix: value] }
        var out: [String: JSONValue] = [:]
        for (key, child) in o where !(prefix.isEmpty && ignored.contains(key)) {
            let path = prefix.isEmpty ? key : prefix + "." + key
            for (k, v) in flatten(child, ignoring: [], prefix: path) { out[k] = v }
        }
        return out
    }
}
