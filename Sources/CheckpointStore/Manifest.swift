import DurableFiles
public import JSON

/// One file of a checkpoint as recorded in its manifest.
public struct FileRecord: Sendable, Hashable {
    /// The file's name inside the checkpoint directory (no `/`, never `..`).
    public var name: String
    /// Its size in bytes.
    public var bytes: Int64
    /// Its SHA-256, lowercase hex.
    public var sha256: String
    /// For safetensors files: the CRC-32C of each tensor's bytes, so a damaged
    /// file's damaged tensors can be named (the file's SHA-256 is the integrity check).
    public var tensorCRC32C: [String: String]?

    public init(name: String, bytes: Int64, sha256: String, tensorCRC32C: [String: String]? = nil) {
        self.name = name
        self.bytes = bytes
        self.sha256 = sha256
        self.tensorCRC32C = tensorCRC32C
    }

    var json: JSONValue {
        var o: [String: JSONValue] = ["name": .string(name), "bytes": .int(bytes), "sha256": .string(sha256)]
        if let tensorCRC32C { o["tensor_crc32c"] = .object(tensorCRC32C.mapValues { .string($0) }) }
        return .object(o)
    }
}

/// The commit record of a checkpoint, `manifest.json`, written last.
///
/// Known keys are typed; every other top-level key is kept in `extra` and
/// written back unchanged when the manifest is rewritten.
public struct Manifest: Sendable {
    /// The value of `format`.
    public static let format = "resumable.checkpoint"
    /// The only `version` this release reads and writes.
    public static let currentVersion: Int64 = 1
    /// Manifests larger than this are refused.
    public static let maxBytes = 64 << 20

    public var step: Int64
    public var epoch: Int64
    /// RFC 3339 UTC.
    public var createdAt: String
    public var runID: String
    public var configFingerprint: String
    public var metrics: [String: Double]
    public var tags: [String]
    /// Free JSON the user controls.
    public var metadata: [String: JSONValue]
    public var files: [FileRecord]
    /// Top-level keys this release does not know, kept as they are.
    public var extra: [String: JSONValue]

    /// - Parameter createdAt: RFC 3339 UTC; `nil` is now.
    public init(
        step: Int64, epoch: Int64, createdAt: String? = nil, runID: String, configFingerprint: String,
        metrics: [String: Double] = [:], tags: [String] = [], metadata: [String: JSONValue] = [:],
        files: [FileRecord] = [], extra: [String: JSONValue] = [:]
    ) {
        self.step = step
        self.epoch = epoch
        self.createdAt = createdAt ?? Timestamp.now()
        self.runID = runID
        self.configFingerprint = configFingerprint
        self.metrics = metrics
        self.tags = tags
        self.metadata = metadata
        self.files = files
        self.extra = extra
    }

    static let knownKeys: Set<String> = [
        "format", "version", "step", "epoch", "created_at", "run_id", "config_fingerprint", "metrics", "tags",
        "metadata", "files",
    ]

    /// The manifest as a JSON object.
    public var json: JSONValue {
        var o = extra
        o["format"] = .string(Self.format)
        o["version"] = .int(Self.currentVersion)
        o["step"] = .int(step)
        o["epoch"] = .int(epoch)
        o["created_at"] = .string(createdAt)
        o["run_id"] = .string(runID)
        o["config_fingerprint"] = .string(configFingerprint)
        o["metrics"] = .object(metrics.mapValues { JSONValue.number($0) })
        o["tags"] = .array(tags.map { .string($0) })
        o["metadata"] = .object(metadata)
        o["files"] = .array(files.map(\.json))
        return .object(o)
    }

    /// The manifest as the bytes of `manifest.json`, unchecked: use
    /// ``encodedForWriting()`` for bytes that go to disk.
    public var encoded: [UInt8] { Array(json.prettyPrinted().utf8) }

    /// The deepest nesting of arrays and objects the reader accepts, the
    /// manifest object itself counting as 1 (so `metadata` is at depth 2).
    public static let maxDepth = 64

    /// The bytes of `manifest.json`, checked against the reader's own limits
    /// (``maxDepth``, ``maxBytes``) so that no writer produces a manifest the
    /// reader refuses. Nothing is written here; callers write the bytes.
    /// - Throws: `.usage` naming the key that nests too deep or the size.
    public func encodedForWriting() throws -> [UInt8] {
        try Self.checkWritable(metadata: metadata, extra: extra)
        let bytes = encoded
        guard bytes.count <= Self.maxBytes else {
            throw ResumableError(
                .usage,
                "the manifest would be \(bytes.count) bytes, more than the \(Self.maxBytes >> 20) MiB a manifest may hold; keep large data in a file of the checkpoint instead of its metadata.")
        }
        return bytes
    }

    /// Checks that metadata and further top-level keys fit the reader's
    /// nesting limit once placed in a manifest: a value under `metadata` may
    /// nest at most `maxDepth - 2` levels, a top-level value `maxDepth - 1`.
    /// Cheap (no encoding); writers call it before they change anything.
    /// - Throws: `.usage` naming the key and the limit.
    public static func checkWritable(metadata: [String: JSONValue], extra: [String: JSONValue] = [:]) throws {
        for (key, value) in metadata { try checkDepth(value, key: "metadata." + key, enclosing: 2) }
        for (key, value) in extra where !knownKeys.contains(key) { try checkDepth(value, key: key, enclosing: 1) }
    }

    static func checkDepth(_ value: JSONValue, key: String, enclosing: Int, file: String = "manifest") throws {
        let depth = value.nestingDepth
        guard depth + enclosing > maxDepth else { return }
        throw ResumableError(
            .usage,
            "the \(file) key \(printableKey(key)) holds a value nested \(depth) levels deep; \(file) is read with at most \(maxDepth) levels of nesting, which leaves \(maxDepth - enclosing) for a value there.")
    }

    /// A key path for a message: quoted, control characters escaped, cut to 120 characters.
    static func printableKey(_ key: String) -> String {
        let shown = key.count > 120 ? String(key.prefix(120)) + "…" : key
        return JSONValue.string(shown).serialized()
    }

    /// Reads a manifest file.
    /// - Throws: `.notFound` if it is missing; `.corrupt` if it is not a valid
    ///   manifest; `.unsupportedVersion` for a version this release does not know.
    public static func read(from path: String) throws -> Manifest {
        let bytes = try FileSystem.readFile(path, limit: maxBytes)
        return try decode(bytes, path: path)
    }

    /// Decodes the bytes of a manifest; `path` is used in messages.
    public static func decode(_ bytes: [UInt8], path: String) throws -> Manifest {
        let json: JSONValue
        do {
            json = try JSONParser(maxDepth: 64).parse(bytes)
        } catch {
            throw invalid(path, "it is not valid JSON (\(error))", cause: error)
        }
        return try Manifest(json: json, path: path)
    }

    /// Builds a manifest from JSON, validating every known key.
    public init(json: JSONValue, path: String) throws {
        guard case .object(var o) = json else { throw Self.invalid(path, "it is \(json.kindName), not an object") }
        guard o["format"]?.stringValue == Self.format else {
            throw Self.invalid(path, "its \"format\" is not \"\(Self.format)\"")
        }
        guard let version = o["version"]?.intValue else { throw Self.invalid(path, "its \"version\" is missing") }
        guard version == Self.currentVersion else {
            throw ResumableError(
                .unsupportedVersion,
                "\(path) has manifest version \(version), but this release of resumable reads version \(Self.currentVersion) only. Upgrade resumable to read it.",
                path: path)
        }
        func int(_ key: String) throws -> Int64 {
            guard let v = o[key]?.intValue, v >= 0 else {
                throw Self.invalid(path, "its \"\(key)\" is missing or not a non-negative integer")
            }
            return v
        }
        func string(_ key: String) throws -> String {
            guard let v = o[key]?.stringValue else { throw Self.invalid(path, "its \"\(key)\" is missing or not a string") }
            return v
        }
        step = try int("step")
        epoch = try int("epoch")
        createdAt = try string("created_at")
        runID = try string("run_id")
        configFingerprint = try string("config_fingerprint")
        guard case .object(let metricValues)? = o["metrics"] ?? .object([:]) else {
            throw Self.invalid(path, "its \"metrics\" is not an object")
        }
        var metrics: [String: Double] = [:]
        for (k, v) in metricValues {
            guard let d = v.doubleValue else { throw Self.invalid(path, "its metric \"\(k)\" is not a number") }
            metrics[k] = d
        }
        self.metrics = metrics
        guard case .array(let tagValues)? = o["tags"] ?? .array([]) else {
            throw Self.invalid(path, "its \"tags\" is not a list")
        }
        var tags: [String] = []
        for t in tagValues {
            guard let s = t.stringValue else { throw Self.invalid(path, "its \"tags\" holds \(t.kindName), not a string") }
            tags.append(s)
        }
        self.tags = tags
        guard case .object(let metadata)? = o["metadata"] ?? .object([:]) else {
            throw Self.invalid(path, "its \"metadata\" is not an object")
        }
        self.metadata = metadata
        guard case .array(let fileValues)? = o["files"] else {
            throw Self.invalid(path, "its \"files\" is missing or not a list")
        }
        var files: [FileRecord] = []
        var seen: Set<String> = []
        for f in fileValues {
            let record = try Self.fileRecord(f, path: path)
            guard seen.insert(record.name).inserted else {
                throw Self.invalid(path, "it lists the file \"\(record.name)\" twice")
            }
            files.append(record)
        }
        // Every sum of the sizes (Checkpoint.bytes, totals of a run) must be
        // representable: a manifest whose sizes overflow Int64 is damaged.
        var total: Int64 = 0
        for record in files {
            let (sum, overflow) = total.addingReportingOverflow(record.bytes)
            guard !overflow else {
                throw Self.invalid(path, "the sizes of its files add up to more than \(Int64.max) bytes")
            }
            total = sum
        }
        self.files = files
        for key in Self.knownKeys { o.removeValue(forKey: key) }
        extra = o
    }

    static func fileRecord(_ value: JSONValue, path: String) throws -> FileRecord {
        guard case .object(let f) = value else { throw invalid(path, "an entry of \"files\" is not an object") }
        guard let name = f["name"]?.stringValue else { throw invalid(path, "an entry of \"files\" has no name") }
        try validateFileName(name, manifestPath: path)
        guard let bytes = f["bytes"]?.intValue, bytes >= 0 else {
            throw invalid(path, "the file \"\(name)\" has no valid \"bytes\"")
        }
        guard let sha = f["sha256"]?.stringValue, sha.utf8.count == 64,
            sha.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) })
        else {
            throw invalid(path, "the file \"\(name)\" has no valid \"sha256\" (64 lowercase hex digits)")
        }
        var tensors: [String: String]?
        if let t = f["tensor_crc32c"] {
            guard case .object(let map) = t else { throw invalid(path, "the file \"\(name)\" has a malformed \"tensor_crc32c\"") }
            var result: [String: String] = [:]
            for (k, v) in map {
                guard let s = v.stringValue, s.utf8.count == 8,
                    s.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) })
                else { throw invalid(path, "the file \"\(name)\" has a malformed \"tensor_crc32c\" (8 lowercase hex digits per tensor)") }
                result[k] = s
            }
            tensors = result
        }
        return FileRecord(name: name, bytes: bytes, sha256: sha, tensorCRC32C: tensors)
    }

    /// Checks that a checkpoint file name stays inside the checkpoint directory.
    public static func validateFileName(_ name: String, manifestPath: String) throws {
        if !FilePath.isPlainName(name) || name == "manifest.json" {
            throw invalid(
                manifestPath,
                "it names the file \"\(FilePath.printable(name))\", which is not a plain file name inside the checkpoint")
        }
    }

    static func invalid(_ path: String, _ reason: String, cause: (any Error)? = nil) -> ResumableError {
        ResumableError(
            .corrupt,
            "\(path) is not a valid checkpoint manifest: \(reason). The checkpoint is damaged; run `resumable verify` on the run and resume from another checkpoint.",
            path: path, cause: cause)
    }
}
