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

    /// The text `inspect` prints: the training history summarised (entries,
    /// first, last, best) and long arrays abbreviated, or all of it with `full`.
    func text(full: Bool) -> String {
        let m = checkpoint.manifest
        var out = "Checkpoint step \(m.step) at \(checkpoint.directory)\n"
        var rows: [(String, String)] = [
            ("epoch", String(m.epoch)), ("created", "\(m.createdAt) (\(HumanFormat.age(of: m.createdAt)) ago)"),
            ("run id", m.runID), ("config", m.configFingerprint.isEmpty ? "-" : m.configFingerprint),
            ("metrics", m.metrics.isEmpty ? "-" : HumanFormat.metrics(m.metrics)),
            ("tags", m.tags.isEmpty ? "-" : m.tags.joined(separator: ", ")),
            ("metadata", m.metadata.isEmpty ? "-" : Abbreviation.text(.object(m.metadata), full: full)),
            ("size", HumanFormat.bytes(checkpoint.bytes)),
        ]
        var history: [String: [Double]]?
        for key in m.extra.keys.sorted() {
            if key == TrainingSummary.manifestKey, let summary = TrainingSummary(json: m.extra[key]) {
                rows += Self.trainingRows(summary)
                history = summary.history
            } else {
                rows.append((key, Abbreviation.text(m.extra[key]!, full: full)))
            }
        }
        let width = rows.map(\.0.count).max() ?? 0
        for (label, value) in rows {
            out += "  \(label):" + String(repeating: " ", count: width - label.count + 1) + value + "\n"
        }
        if let history { out += Self.historyText(history, full: full) }
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

    /// The training summary in a few rows: progress and best.
    static func trainingRows(_ t: TrainingSummary) -> [(String, String)] {
        var progress = "epoch \(t.completedEpochs) of \(t.totalEpochs), step \(t.step)"
        if t.epochStep > 0 { progress += " (\(t.epochStep)/\(t.stepsPerEpoch) batches into the next epoch)" }
        if t.isFinished { progress += ", finished (\(t.finishReason ?? "completed"))" }
        var rows = [("training", progress)]
        if let score = t.bestScore {
            var best = "\(t.monitor) (\(t.mode)) \(HumanFormat.number(score))"
            if let epoch = t.bestEpoch { best += " at epoch \(epoch)" }
            if let step = t.bestStep { best += " (step \(step))" }
            rows.append(("best", best))
        }
        return rows
    }

    /// The training history: its length, first and last epochs, or every
    /// epoch (`full`), one a line.
    static func historyText(_ history: [String: [Double]], full: Bool) -> String {
        let epochs = history["epoch"] ?? []
        let names = history.keys.filter { $0 != "epoch" }.sorted()
        guard !epochs.isEmpty else { return "" }
        func row(_ i: Int) -> [String] {
            [Int64(exactly: epochs[i]).map { String($0) } ?? HumanFormat.number(epochs[i])] + names.map { name in
                history[name].flatMap { i < $0.count ? HumanFormat.number($0[i]) : nil } ?? "-"
            }
        }
        var table = TextTable([("EPOCH", .right)] + names.map { ($0.uppercased(), .right) })
        var out = "\nHistory (\(epochs.count) epoch\(epochs.count == 1 ? "" : "s"))\n"
        let shown = full || epochs.count <= 4 ? Array(epochs.indices) : [0, 1, epochs.count - 2, epochs.count - 1]
        for (n, i) in shown.enumerated() {
            if n > 0, i != shown[n - 1] + 1 {
                table.append(["…"] + names.map { _ in "" })
            }
            table.append(row(i))
        }
        out += table.rendered().split(separator: "\n", omittingEmptySubsequences: false).map { $0.isEmpty ? "" : "  " + $0 }
            .joined(separator: "\n")
        if shown.count < epochs.count { out += "  (\(epochs.count - shown.count) more; --full shows every epoch)\n" }
        return out
    }

    private func indent(_ text: String) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false).map { $0.isEmpty ? "" : "  " + $0 }.joined(separator: "\n")
    }
}
