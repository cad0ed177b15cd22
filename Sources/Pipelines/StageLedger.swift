public import JSON
import DurableFiles
import Glibc

/// `{run}/stages.json`: where every stage of a pipeline stands.
///
/// **Written atomically**: a temporary file beside it, fsync, rename over
/// it, fsync of the directory, so a crash leaves the old ledger or the new
/// one, never a torn one. **Read strictly**: invalid JSON, a wrong type or an
/// unknown status is refused (`.corrupt`, exit 65) naming the path — a
/// ledger is never silently reset. It is never opened through a symbolic
/// link, and a FIFO or device in its place is refused.
public struct StageLedger: Sendable, Hashable {
    /// The schema this release writes and reads.
    public static let schemaVersion = 1
    /// The ledger's file name in the run directory.
    public static let fileName = "stages.json"
    /// Ledgers larger than this are refused.
    public static let maxBytes = 16 << 20

    /// The schema the ledger was read with (``schemaVersion``).
    public var schemaVersion: Int
    /// When the ledger was first written (RFC 3339 UTC).
    public var createdAt: String
    /// The stages' records by name.
    public var stages: [String: StageRecord]
    /// The pipeline the ledger belongs to, as the last `pipeline run` or
    /// `pipeline reset` saw it: so `pipeline status RUN` can show the stages
    /// in order without the pipeline file. `nil` in a ledger written without it.
    public var pipeline: PipelineOutline?

    public init(createdAt: String? = nil) {
        schemaVersion = Self.schemaVersion
        self.createdAt = createdAt ?? Timestamp.now()
        stages = [:]
    }

    /// The record of `stage`, or a `not_started` one.
    public func record(_ stage: String) -> StageRecord { stages[stage] ?? StageRecord() }

    /// The ledger's path in `runDirectory`.
    public static func path(in runDirectory: String) -> String { runDirectory + "/" + fileName }

    /// The ledger as `stages.json` holds it.
    public var json: JSONValue {
        var o: [String: JSONValue] = [
            "schema_version": .int(Int64(schemaVersion)), "created_at": .string(createdAt),
            "stages": .object(stages.mapValues(\.json)),
        ]
        if let pipeline { o["pipeline"] = pipeline.json }
        return .object(o)
    }

    /// Writes the ledger to `{runDirectory}/stages.json` atomically and durably.
    /// - Throws: `.corrupt` when a link, directory or FIFO stands at the path; I/O errors.
    public func write(runDirectory: String) throws {
        let path = Self.path(in: runDirectory)
        let found = FileSystem.entryType(path)
        guard found == .missing || found == .regular else { throw FileSystem.misplacedEntry(path, found: found, expected: .regular) }
        try FileSystem.writeAtomically(Array((json.prettyPrinted() + "\n").utf8), to: path)
    }

    /// Reads `{runDirectory}/stages.json`; `nil` when there is none yet.
    /// - Throws: `.corrupt` (exit 65) naming the path for anything that is not a valid ledger.
    public static func read(runDirectory: String) throws -> StageLedger? {
        let path = path(in: runDirectory)
        if FileSystem.entryType(path) == .missing { return nil }
        let bytes = try FileSystem.readFile(path, limit: maxBytes)
        let json: JSONValue
        do {
            json = try JSONParser(maxDepth: 32).parse(bytes)
        } catch {
            throw ResumableError(
                .corrupt, "\(path) is not valid JSON (\(error)); restore it or remove it to start the pipeline's ledger again.",
                path: path, cause: error)
        }
        return try StageLedger(json: json, path: path)
    }

    /// Reads a ledger from its JSON; `path` names it in errors.
    public init(json: JSONValue, path: String) throws {
        func invalid(_ reason: String) -> ResumableError {
            ResumableError(.corrupt, "\(path) is not a valid stage ledger: \(reason). Restore it or remove it to start the ledger again.", path: path)
        }
        guard case .object(let o) = json else { throw invalid("it is not a JSON object") }
        guard let version = o["schema_version"]?.intValue else { throw invalid("\"schema_version\" is missing or not a number") }
        guard version == Int64(Self.schemaVersion) else {
            throw ResumableError(.unsupportedVersion, "\(path) has schema_version \(version); this release reads \(Self.schemaVersion).", path: path)
        }
        guard let created = o["created_at"]?.stringValue else { throw invalid("\"created_at\" is missing or not a string") }
        guard let stages = o["stages"]?.objectValue else { throw invalid("\"stages\" is missing or not an object") }
        schemaVersion = Int(version)
        createdAt = created
        self.stages = [:]
        for (name, value) in stages {
            self.stages[name] = try Self.record(value, stage: name, invalid: invalid)
        }
        switch o["pipeline"] {
        case nil, .null?: pipeline = nil
        case let p?:
            guard let outline = PipelineOutline(json: p) else { throw invalid("\"pipeline\" is not a pipeline outline (name, file, stages)") }
            pipeline = outline
        }
    }

    private static func record(_ value: JSONValue, stage: String, invalid: (String) -> ResumableError) throws -> StageRecord {
        func bad(_ what: String) -> ResumableError { invalid("stage \"\(stage)\": \(what)") }
        guard case .object(let o) = value else { throw bad("not an object") }
        guard let s = o["status"]?.stringValue, let status = StageStatus(rawValue: s) else {
            throw bad("\"status\" is missing or not one of \(StageStatus.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        func optionalString(_ key: String) throws -> String? {
            switch o[key] {
            case nil, .null?: return nil
            case .string(let v)?: return v
            default: throw bad("\"\(key)\" is not a string")
            }
        }
        var r = StageRecord(status: status)
        r.startedAt = try optionalString("started_at")
        r.completedAt = try optionalString("completed_at")
        guard let attempts = o["attempts"]?.intValue, attempts >= 0, attempts < Int64(Int32.max) else { throw bad("\"attempts\" is missing or not a count") }
        r.attempts = Int(attempts)
        switch o["exit_code"] {
        case nil, .null?: r.exitCode = nil
        case .int(let v)? where v >= Int64(Int32.min) && v <= Int64(Int32.max): r.exitCode = Int32(v)
        default: throw bad("\"exit_code\" is not a whole number")
        }
        if let tail = o["error_tail"] {
            guard let lines = tail.arrayValue?.compactMap(\.stringValue), lines.count == tail.arrayValue?.count else {
                throw bad("\"error_tail\" is not a list of strings")
            }
            r.errorTail = lines
        }
        if let outputs = o["outputs"] {
            guard let list = outputs.arrayValue else { throw bad("\"outputs\" is not a list") }
            r.outputs = try list.map { entry in
                guard let path = entry["path"]?.stringValue, let bytes = entry["bytes"]?.intValue, bytes >= 0,
                    let sha = entry["sha256"]?.stringValue, sha.utf8.count == 64
                else { throw bad("an entry of \"outputs\" lacks path, bytes or sha256") }
                return StageOutput(path: path, bytes: bytes, sha256: sha)
            }
        }
        switch o["fingerprint"] {
        case nil, .null?: r.fingerprint = nil
        case let f?:
            guard let fingerprint = StageFingerprint(json: f) else { throw bad("\"fingerprint\" is not a valid fingerprint") }
            r.fingerprint = fingerprint
        }
        switch o["progress"] {
        case nil, .null?: r.progress = [:]
        case .object(let p)?: r.progress = p
        default: throw bad("\"progress\" is not an object")
        }
        switch o["owner"] {
        case nil, .null?: r.owner = nil
        case let w?:
            guard let pid = w["pid"]?.intValue, pid > 0, pid <= Int64(Int32.max), let host = w["host"]?.stringValue else {
                throw bad("\"owner\" lacks pid or host")
            }
            let ticks = w["start_ticks"]?.intValue ?? 0
            r.owner = StageOwner(pid: Int32(pid), host: host, bootID: w["boot_id"]?.stringValue ?? "", startTicks: UInt64(max(0, ticks)))
        }
        return r
    }

    /// Marks `stages` and every stage downstream of them `not_started`.
    /// - Returns: the names reset, in the spec's dependency order.
    /// - Throws: `.usage` naming a stage that is not in the pipeline.
    @discardableResult
    public mutating func reset(_ names: [String], in spec: PipelineSpec) throws -> [String] {
        for name in names where spec.stage(named: name) == nil {
            throw ResumableError(
                .usage, "\(name) is not a stage of pipeline \(spec.name); the stages are \(spec.stages.map(\.name).joined(separator: ", ")).")
        }
        let all = spec.downstream(of: Set(names))
        let ordered = spec.stages.map(\.name).filter(all.contains)
        for name in ordered { stages[name] = StageRecord() }
        return ordered
    }
}
