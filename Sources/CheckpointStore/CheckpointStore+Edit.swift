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
        let value: JSONValue
        do {
            value = try JSONParser(maxDepth: Manifest.maxDepth).parse(raw)
        } catch where error.reason.hasPrefix("JSON nested deeper than") {
            // Valid JSON too deep for a manifest: refused, not taken as a string.
            throw ResumableError(
                .usage,
                "the value of \(Manifest.printableKey(key)) nests deeper than the \(Manifest.maxDepth) levels a manifest is read with.",
                cause: error)
        } catch {
            value = .string(raw)
        }
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
        // The manifest was read intact; what is wrong now is the edit (.usage), not the disk (.corrupt).
        try Self.checkEdited(json)
        let updated: Manifest
        do {
            updated = try Manifest(json: json, path: manifestPath)
        } catch let error as ResumableError where error.code == .corrupt {
            throw ResumableError(.usage, "the edit would make the manifest invalid, so nothing was changed: \(error.message)", path: manifestPath,
                cause: error)
        }
        var final = updated
        final.extra["edited_at"] = .string(Timestamp.now())
        let encoded = try final.encodedForWriting()
        try FileSystem.createOwnedDirectory(stagingDirectory)
        let temporary = FilePath.join(stagingDirectory, "manifest.\(getpid()).\(UInt32.random(in: 0...UInt32.max)).json")
        let file = try DurableFile.create(temporary)
        do {
            try file.write(encoded)
            try file.sync()
            try file.close()
            try FileSystem.rename(temporary, to: manifestPath, replacing: true)
        } catch {
            try? FileSystem.removeTree(temporary)
            throw error
        }
        try FileSystem.sync(current.directory)
        try? events.append(JournalEvent.Store.edit, ["step": .int(step), "keys": .array(edits.map { e in
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
        // The recursion below goes one level per part; a path deeper than a
        // manifest may nest is refused before it starts.
        guard parts.count <= Manifest.maxDepth else {
            throw ResumableError(
                .usage,
                "the key path \(Manifest.printableKey(path)) has \(parts.count) parts; a manifest is read with at most \(Manifest.maxDepth) levels of nesting, so a key path has at most \(Manifest.maxDepth) parts.")
        }
        guard !ManifestEdit.protectedKeys.contains(parts[0]) else {
            throw ResumableError(
                .usage, "\"\(parts[0])\" cannot be edited: it records what was committed. Edit metrics, tags, metadata or your own keys.")
        }
        json = try set(json, parts[...], value, path: path)
    }

    /// Checks the keys the reader types, after the edits: each must still
    /// hold what a manifest needs. Throws `.usage` naming the key and the value.
    static func checkEdited(_ json: JSONValue) throws {
        guard case .object(let o) = json else { return }
        func refuse(_ key: String, _ need: String, _ value: JSONValue?) -> ResumableError {
            guard let value else {
                return ResumableError(.usage, "\(key) cannot be removed: every manifest records it. Set it to \(need) instead.")
            }
            return ResumableError(.usage, "\(key) must be \(need), got \(shown(value)).")
        }
        let epoch = o["epoch"]
        if epoch.flatMap(\.intValue).map({ $0 < 0 }) ?? true { throw refuse("epoch", "a non-negative integer", epoch) }
        for key in ["run_id", "config_fingerprint"] where o[key]?.stringValue == nil {
            throw refuse(key, "a string", o[key])
        }
        if let metrics = o["metrics"] {
            guard case .object(let values) = metrics else { throw refuse("metrics", "an object of numbers", metrics) }
            for (name, value) in values.sorted(by: { $0.key < $1.key }) where value.doubleValue == nil {
                throw refuse("metrics." + name, "a number", value)
            }
        }
        if let tags = o["tags"] {
            guard case .array(let items) = tags, items.allSatisfy({ $0.stringValue != nil }) else {
                throw refuse("tags", "a list of strings", tags)
            }
        }
        if let metadata = o["metadata"], metadata.objectValue == nil { throw refuse("metadata", "an object", metadata) }
    }

    /// A value for a message: compact JSON, cut to 80 characters.
    static func shown(_ value: JSONValue) -> String {
        let text = value.serialized()
        return text.count > 80 ? String(text.prefix(80)) + "…" : text
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
