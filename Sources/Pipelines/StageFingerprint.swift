public import JSON

/// What a stage's fingerprint was taken of, kept part by part so a change can be named.
///
/// ``sha256`` is the SHA-256 of the canonical text of all parts (docs/PIPELINES.md);
/// the parts are the hashes of the command, of the env, of each input (by
/// path) and of each upstream stage's recorded outputs (by stage).
public struct StageFingerprint: Sendable, Hashable {
    /// The fingerprint: SHA-256 of the canonical text of all the parts below.
    public var sha256: String
    /// SHA-256 of the command's canonical text (after substitution).
    public var command: String
    /// SHA-256 of the env (sorted `NAME=VALUE` lines).
    public var env: String
    /// SHA-256 of each input's content, by the path as declared; `"missing"` for an input that does not exist.
    public var inputs: [String: String]
    /// SHA-256 of each upstream stage's recorded outputs, by stage name; `""` when it has none recorded.
    public var upstream: [String: String]

    public init(command: String, env: String, inputs: [String: String], upstream: [String: String]) {
        self.command = command
        self.env = env
        self.inputs = inputs
        self.upstream = upstream
        var text = "resumable-stage-fingerprint 1\ncommand \(command)\nenv \(env)\n"
        for key in inputs.keys.sorted() { text += "input \(key.debugDescription) \(inputs[key]!)\n" }
        for key in upstream.keys.sorted() { text += "upstream \(key) \(upstream[key]!)\n" }
        sha256 = PipelineHash.sha256(text)
    }

    /// The fingerprint as the ledger stores it.
    /// The fingerprint as the ledger stores it (the total and every part).
    public var json: JSONValue {
        .object([
            "sha256": .string(sha256), "command": .string(command), "env": .string(env),
            "inputs": .object(inputs.mapValues { .string($0) }), "upstream": .object(upstream.mapValues { .string($0) }),
        ])
    }

    /// Reads a fingerprint written by ``json``; `nil` when it is not one.
    public init?(json: JSONValue) {
        guard case .object(let o) = json, let sha = o["sha256"]?.stringValue, let command = o["command"]?.stringValue,
            let env = o["env"]?.stringValue, let inputs = o["inputs"]?.objectValue, let upstream = o["upstream"]?.objectValue
        else { return nil }
        var i: [String: String] = [:]
        for (k, v) in inputs {
            guard let s = v.stringValue else { return nil }
            i[k] = s
        }
        var u: [String: String] = [:]
        for (k, v) in upstream {
            guard let s = v.stringValue else { return nil }
            u[k] = s
        }
        self.init(command: command, env: env, inputs: i, upstream: u)
        guard self.sha256 == sha else { return nil }
    }

    /// Why `self` (now) differs from `recorded`, in one line; `nil` when they are equal.
    /// The first difference is named in this order: command, env, inputs (sorted), upstream stages.
    public func change(since recorded: StageFingerprint) -> String? {
        if sha256 == recorded.sha256 { return nil }
        if command != recorded.command { return "command changed" }
        if env != recorded.env { return "env changed" }
        for path in Set(inputs.keys).union(recorded.inputs.keys).sorted() where inputs[path] != recorded.inputs[path] {
            if recorded.inputs[path] == nil { return "input \(path) added" }
            if inputs[path] == nil { return "input \(path) removed" }
            if inputs[path] == PipelineHash.missing { return "input \(path) missing" }
            return "input \(path) changed"
        }
        for stage in Set(upstream.keys).union(recorded.upstream.keys).sorted() where upstream[stage] != recorded.upstream[stage] {
            if recorded.upstream[stage] == nil { return "needs \(stage) now" }
            if upstream[stage] == nil { return "no longer needs \(stage)" }
            return "upstream \(stage) re-ran"
        }
        return "fingerprint changed"
    }
}
