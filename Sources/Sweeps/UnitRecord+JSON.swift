public import JSON
import DurableFiles
import Pipelines

extension UnitRecord {
    /// The record as `KEY.json` holds it (every key written, `null` when unset).
    public var json: JSONValue {
        var o: [String: JSONValue] = [
            "schema_version": .int(Int64(Self.schemaVersion)), "key": .string(key), "fingerprint": .string(fingerprint),
            "params": .object(params.mapValues(\.json)), "status": .string(status.rawValue), "attempts": .int(Int64(attempts)),
            "log": .string(log), "error_tail": .array(errorTail.map { .string($0) }),
        ]
        o["started_at"] = startedAt.map { .string($0) } ?? .null
        o["finished_at"] = finishedAt.map { .string($0) } ?? .null
        o["duration_seconds"] = durationSeconds.map { .double($0) } ?? .null
        o["exit_code"] = exitCode.map { .int(Int64($0)) } ?? .null
        o["result"] = result?.json ?? .null
        o["owner"] = owner?.json ?? .null
        o["slurm"] = slurm?.json ?? .null
        return .object(o)
    }

    /// Writes the record to `path` atomically and durably: a temporary file
    /// beside it, fsync, rename over it, fsync of the directory.
    /// - Throws: `.corrupt` when a link, directory or FIFO stands at the path
    ///   (never written through); I/O errors.
    public func write(to path: String) throws {
        let found = FileSystem.entryType(path)
        guard found == .missing || found == .regular else { throw FileSystem.misplacedEntry(path, found: found, expected: .regular) }
        try FileSystem.writeAtomically(Array((json.prettyPrinted()).utf8), to: path)
    }

    /// Reads a record strictly.
    ///
    /// The file is never opened through a symbolic link, a FIFO or device in
    /// its place is refused without blocking, and more than ``maxBytes`` is
    /// refused. When the file is named `KEY.json`, the record's key must be KEY.
    /// - Throws: `.corrupt` (exit 65) naming the path for invalid JSON, a
    ///   missing or wrongly-typed field, a number out of range, an unknown
    ///   status, or a fingerprint that does not start with the key;
    ///   `.unsupportedVersion` (65) for another `schema_version`; `.notFound` when missing.
    public static func read(path: String) throws -> UnitRecord {
        let bytes = try FileSystem.readFile(path, limit: maxBytes)
        let json: JSONValue
        do {
            json = try JSONParser(maxDepth: 64).parse(bytes)
        } catch {
            throw ResumableError(
                .corrupt, "\(path) is not valid JSON (\(error)); restore it, or remove it to run the unit again.", path: path, cause: error)
        }
        let record = try UnitRecord(json: json, path: path)
        let name = FilePath.lastComponent(of: path)
        if name.hasSuffix(".json"), SweepUnit.isKey(String(name.dropLast(5))), name != record.key + ".json" {
            throw ResumableError(
                .corrupt,
                "\(path) is not a valid unit record: it holds the record of unit \(record.key), not \(name.dropLast(5)). Restore it, or remove it to run the unit again.",
                path: path)
        }
        return record
    }

    /// Reads a record from its JSON; `path` names it in errors.
    /// - Throws: as ``read(path:)``.
    public init(json: JSONValue, path: String) throws {
        func invalid(_ reason: String) -> ResumableError {
            ResumableError(.corrupt, "\(path) is not a valid unit record: \(reason). Restore it, or remove it to run the unit again.", path: path)
        }
        guard case .object(let o) = json else { throw invalid("it is not a JSON object") }
        guard case .int(let version)? = o["schema_version"] else { throw invalid("\"schema_version\" is missing or not a whole number") }
        guard version == Int64(Self.schemaVersion) else {
            throw ResumableError(.unsupportedVersion, "\(path) has schema_version \(version); this release reads \(Self.schemaVersion).", path: path)
        }
        guard case .string(let key)? = o["key"], SweepUnit.isKey(key) else { throw invalid("\"key\" is missing or not 16 lowercase hex digits") }
        guard case .string(let fingerprint)? = o["fingerprint"], SweepUnit.isFingerprint(fingerprint) else {
            throw invalid("\"fingerprint\" is missing or not 64 lowercase hex digits")
        }
        guard fingerprint.hasPrefix(key) else { throw invalid("the fingerprint \(fingerprint) does not start with the key \(key)") }
        guard case .object(let rawParams)? = o["params"] else { throw invalid("\"params\" is missing or not an object") }
        var params: [String: SweepValue] = [:]
        for (name, value) in rawParams {
            guard let typed = SweepValue(json: value) else { throw invalid("parameter \"\(name)\" is \(value.kindName), not a string, number or boolean") }
            params[name] = typed
        }
        guard case .string(let s)? = o["status"], let status = UnitStatus(rawValue: s) else {
            throw invalid("\"status\" is missing or not one of \(UnitStatus.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard case .int(let attempts)? = o["attempts"], attempts >= 0, attempts <= Int64(Int32.max) else {
            throw invalid("\"attempts\" is missing or not a count")
        }
        guard case .string(let log)? = o["log"] else { throw invalid("\"log\" is missing or not a string") }
        self.init(key: key, fingerprint: fingerprint, params: params)
        self.status = status
        self.attempts = Int(attempts)
        self.log = log

        func optional<T>(_ field: String, _ what: String, _ convert: (JSONValue) -> T?) throws -> T? {
            switch o[field] {
            case nil, .null?: return nil
            case let value?:
                guard let converted = convert(value) else { throw invalid("\"\(field)\" is not \(what)") }
                return converted
            }
        }
        startedAt = try optional("started_at", "a string", \.stringValue)
        finishedAt = try optional("finished_at", "a string", \.stringValue)
        durationSeconds = try optional("duration_seconds", "a number of seconds") { v in
            guard let d = v.doubleValue, d.isFinite, d >= 0, v.stringValue == nil else { return nil }
            return d
        }
        exitCode = try optional("exit_code", "a whole number (a 32-bit exit code)") { v in
            guard case .int(let i) = v, i >= Int64(Int32.min), i <= Int64(Int32.max) else { return nil }
            return Int32(i)
        }
        errorTail = try optional("error_tail", "a list of at most \(Self.maxErrorLines) strings") { v in
            guard let list = v.arrayValue, list.count <= Self.maxErrorLines else { return nil }
            let lines = list.compactMap(\.stringValue)
            return lines.count == list.count ? lines : nil
        } ?? []
        result = try optional("result", "{\"json\": …} or {\"path\", \"bytes\", \"sha256\"}", UnitResult.init(json:))
        owner = try optional("owner", "an owner (pid, host, boot_id, start_ticks)", Self.owner)
        slurm = try optional("slurm", "a Slurm task (job_id, array_task_id)", SlurmTask.init(json:))
    }

    static func owner(_ value: JSONValue) -> StageOwner? {
        guard case .object(let o) = value, case .int(let pid)? = o["pid"], pid > 0, pid <= Int64(Int32.max),
            case .string(let host)? = o["host"]
        else { return nil }
        var bootID = ""
        switch o["boot_id"] {
        case nil, .null?: break
        case .string(let b)?: bootID = b
        default: return nil
        }
        var ticks: UInt64 = 0
        switch o["start_ticks"] {
        case nil, .null?: break
        case .int(let t)? where t >= 0: ticks = UInt64(t)
        default: return nil
        }
        return StageOwner(pid: Int32(pid), host: host, bootID: bootID, startTicks: ticks)
    }
}

extension UnitResult {
    /// The result a record holds; `nil` when it is neither form.
    public init?(json: JSONValue) {
        guard case .object(let o) = json else { return nil }
        if o.count == 1, let value = o["json"] {
            self = .json(value)
            return
        }
        guard o.count == 3, case .string(let path)? = o["path"], case .int(let bytes)? = o["bytes"], bytes >= 0,
            case .string(let sha)? = o["sha256"], SweepUnit.isFingerprint(sha)
        else { return nil }
        self = .file(path: path, bytes: bytes, sha256: sha)
    }
}

extension SlurmTask {
    /// The Slurm task a record holds; `nil` when it is not one.
    public init?(json: JSONValue) {
        guard case .object(let o) = json, case .string(let job)? = o["job_id"], !job.isEmpty else { return nil }
        switch o["array_task_id"] {
        case nil, .null?: self.init(jobID: job)
        case .int(let t)? where t >= 0 && t <= Int64(Int32.max): self.init(jobID: job, arrayTaskID: Int(t))
        default: return nil
        }
    }
}
