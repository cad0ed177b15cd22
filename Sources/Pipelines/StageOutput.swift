public import JSON

/// One output file of a completed stage, as the ledger records it.
public struct StageOutput: Sendable, Hashable {
    /// The path relative to the run directory.
    public var path: String
    /// The file's size in bytes.
    public var bytes: Int64
    /// SHA-256 of the file's content, lowercase hex.
    public var sha256: String

    public init(path: String, bytes: Int64, sha256: String) {
        self.path = path
        self.bytes = bytes
        self.sha256 = sha256
    }

    /// The output as the ledger stores it: `{path, bytes, sha256}`.
    public var json: JSONValue { .object(["path": .string(path), "bytes": .int(bytes), "sha256": .string(sha256)]) }
}

extension StageOutput {
    /// The hash of a stage's recorded outputs (sorted `path sha256` lines), the
    /// value its downstream stages' fingerprints hold; `""` when there are none.
    public static func combinedSHA256(_ outputs: [StageOutput]) -> String {
        outputs.isEmpty ? "" : PipelineHash.sha256(outputs.sorted { $0.path < $1.path }.map { "\($0.path.debugDescription) \($0.sha256)\n" }.joined())
    }
}
