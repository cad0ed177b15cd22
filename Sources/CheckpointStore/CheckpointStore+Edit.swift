#if canImport(Glibc)
import Glibc
#endif
import DurableFiles
public import JSON

/// One change to a manifest: set or remove a key given as a dotted path
/// (`metadata.wandb_run_id`, `tags`, `my_key`).
public enum ManifestEdit: Sendable, Hashable {
    case set(path: String, value: JSONValue)
    case unset(path: String)

    /// Keys whose change would break the checkpoint's integrity.
    public static let protectedKeys: Set<String> = ["format", "version", "files", "step", "created_at"]

    /// Parses `KEY=VALUE`; VALUE is read as JSON when it is valid JSON, as a string otherwise.
    public static func parseSet(_ text: String) throws -> ManifestEdit {
        guard let eq = text.firstIndex(of: "="), eq != text.startIndex else {
            throw ResumableError(.usage, "--set needs KEY=VALUE, got \"\(text)\".")
        }
        let key = String(text[..<eq])
        let raw = String(text[text.index(after: eq)...])
        let value = (try? JSONParser().parse(raw)) ?? .string(raw)
        return .set(path: key, value: value)
    }
}

extension CheckpointStore {
    /// Rewrites a checkpoint's manifest with `edits`, keeping every key not
    /// edited (unknown ones included). The new manifest is written to staging,
    /// fsynced and renamed over the old one, so a crash leaves one or the other.
    /// - Throws: `.usage` for protected keys or a result that is not a valid manifest.
    @discardableResult
    public func edit(step: Int64, _ edits: [ManifestEdit]) throws -> Checkpoint {
        try requireWrite("edit a checkpoint")
        let current = try checkpoint(step: step)
        var json = current.manifest.json
        for edit in edits {
            switch edit {
            case .set(let path, let value): try Self.apply(&json, path: path, value: value)
            case .unset(let path): try Self.apply(&json, path: path, value: nil)
            }
        }
        let manifestPath = current.path(of: "manifest.json")
        let updated = try Manifest(json: json, path: manifestPath)
        var final = updated
        final.extra["edited_at"] = .string(Timestamp.now())
        try FileSystem.createOwnedDirectory(stagingDirectory)
        let temporary = FilePath.join(stagingDirectory, "manifest.\(getpid()).\(UInt32.random(in: 0...UInt32.max)).json")
        let file = try DurableFile.create(temporary)
        do {
            try file.write(final.encoded)
            try file.sync()
            try file.close()
            try FileSystem.rename(temporary, to: manifestPath, replacing: true)
        } catch {
            try? FileSystem.removeTree(temporary)
            throw error
        }
        try FileSystem.sync(current.directory)
        try? events.append("edit", ["step": .int(step), "keys": .array(edits.map { e in
            switch e {
            case .set(let p, _), .unset(let p): return .string(p)
            }
        })])
        return Checkpoint(directory: current.directory, manifest: final)
    }

    static func apply(_ json: inout JSONValue, path: String, value: JSONValue?) throws {
        let parts = path.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard !parts.isEmpty, parts.allSatisfy({ !$0.isEmpty }) else {
            throw ResumableError(.usage, "\"\(path)\" is not a key path; use names joined by dots, like metadata.note.")
        }
        guard !ManifestEdit.protectedKeys.contains(parts[0]) else {
            throw ResumableError(
                .usage, "\"\(parts[0])\" cannot be edited: it records what was committed. Edit metrics, tags, metadata or your own keys.")
        }
        json = try set(json, parts[...], value, path: path)
    }

    private static func set(_ node: JSONValue, _ parts: ArraySlice<String>, _ value: JSONValue?, path: String) throws -> JSONValue {
        guard case .object(var o) = node else {
            throw ResumableError(.usage, "cannot edit \"\(path)\": a part of it is \(node.kindName), not an object.")
        }
        let key = parts.first!
        if parts.count == 1 {
            if let value { o[key] = value } else {
                guard o.removeValue(forKey: key) != nil else {
                    throw ResumableError(.usage, "the manifest has no key \"\(path)\" to unset.")
                }
            }
        } else {
            let child = o[key] ?? .object([:])
            o[key] = try set(child, parts.dropFirst(), value, path: path)
        }
        return .object(o)
    }
}
