import Resumable

/// What `inspect` shows of a checkpoint: its manifest, its tensors per
/// safetensors file, and the top-level keys of `state.json`.
struct CheckpointInspection {
    /// One tensor set's headers: a safetensors file, or a sharded set by the
    /// name of its index without `.index.json`.
    struct TensorFile {
        var name: String
        /// The files holding it: the file itself, or the shards.
        var files: [String]
        var tensors: [TensorInfo]
        var metadata: [String: String]
    }

    var checkpoint: Checkpoint
    var tensorFiles: [TensorFile] = []
    /// The top-level keys of `state.json`, or `nil` when there is none.
    var stateKeys: [String]?

    /// Reads the headers of the checkpoint's safetensors files and its `state.json`.
    /// - Throws: `.corrupt` for a malformed safetensors header or state file.
    init(_ checkpoint: Checkpoint) throws {
        self.checkpoint = checkpoint
        for name in checkpoint.tensorSetNames {
            let set = try checkpoint.tensors(named: name)
            tensorFiles.append(
                TensorFile(
                    name: name, files: set.files.map { FilePath.lastComponent(of: $0.path) }, tensors: set.tensors,
                    metadata: set.metadata))
        }
        if checkpoint.manifest.files.contains(where: { $0.name == "state.json" }) {
            let path = checkpoint.path(of: "state.json")
            let bytes = try FileSystem.readFile(path, limit: 256 << 20)
            guard let state = try? JSONParser(maxDepth: 256).parse(bytes) else {
                throw ResumableError(.corrupt, "\(path) is not valid JSON; run `resumable verify` on the checkpoint.", path: path)
            }
            stateKeys = (state.objectValue ?? [:]).keys.sorted()
        }
    }

    /// The `inspect --json` document.
    var json: JSONValue {
        .object([
            "path": .string(checkpoint.directory),
            "step": .int(checkpoint.step),
            "manifest": checkpoint.manifest.json,
            "tensor_files": .array(
                tensorFiles.map { file in
                    .object([
                        "name": .string(file.name),
                        "files": .array(file.files.map { .string($0) }),
                        "metadata": .object(file.metadata.mapValues { .string($0) }),
                        "tensors": .array(file.tensors.map(Self.json)),
                    ])
                }),
            "state_keys": stateKeys.map { .array($0.map { .string($0) }) } ?? .null,
        ])
    }

    static func json(_ t: TensorInfo) -> JSONValue {
        .object([
            "name": .string(t.name), "dtype": .string(t.dtype.rawValue), "shape": .array(t.shape.map { .int(Int64($0)) }),
            "bytes": .int(Int64(t.byteCount)),
        ])
    }

    /// The text `inspect` prints.
    var text: String {
        let m = checkpoint.manifest
        var out = "Checkpoint step \(m.step) at \(checkpoint.directory)\n"
        var rows: [(String, String)] = [
            ("epoch", String(m.epoch)), ("created", "\(m.createdAt) (\(HumanFormat.age(of: m.createdAt)) ago)"),
            ("run id", m.runID), ("config", m.configFingerprint.isEmpty ? "-" : m.configFingerprint),
            ("metrics", m.metrics.isEmpty ? "-" : HumanFormat.metrics(m.metrics)),
            ("tags", m.tags.isEmpty ? "-" : m.tags.joined(separator: ", ")),
            ("metadata", m.metadata.isEmpty ? "-" : JSONValue.object(m.metadata).serialized()),
            ("size", HumanFormat.bytes(checkpoint.bytes)),
        ]
        for key in m.extra.keys.sorted() { rows.append((key, m.extra[key]!.serialized())) }
        let width = rows.map(\.0.count).max() ?? 0
        for (label, value) in rows {
            out += "  \(label):" + String(repeating: " ", count: width - label.count + 1) + value + "\n"
        }
        out += "\nFiles\n"
        var files = TextTable([("NAME", .left), ("BYTES", .right), ("SHA256", .left)])
        for f in m.files { files.append([f.name, String(f.bytes), String(f.sha256.prefix(16)) + "…"]) }
        out += indent(files.rendered())
        for file in tensorFiles {
            let shards = file.files == [file.name] ? "" : ", \(file.files.count) shards"
            out += "\nTensors in \(file.name) (\(file.tensors.count)\(shards))\n"
            var table = TextTable([("NAME", .left), ("DTYPE", .left), ("SHAPE", .left), ("BYTES", .right)])
            for t in file.tensors {
                table.append([t.name, t.dtype.rawValue, "[" + t.shape.map(String.init).joined(separator: ", ") + "]", String(t.byteCount)])
            }
            out += indent(table.rendered())
            if !file.metadata.isEmpty {
                out += "  metadata: " + JSONValue.object(file.metadata.mapValues { .string($0) }).serialized() + "\n"
            }
        }
        if let stateKeys {
            out += "\nState (state.json): " + (stateKeys.isEmpty ? "no keys" : stateKeys.joined(separator: ", ")) + "\n"
        }
        return out
    }

    private func indent(_ text: String) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false).map { $0.isEmpty ? "" : "  " + $0 }.joined(separator: "\n")
    }
}
