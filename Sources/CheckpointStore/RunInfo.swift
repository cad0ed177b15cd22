import DurableFiles
public import JSON

/// Whether a smaller or a larger metric value is better.
public enum MetricMode: String, Sendable, CaseIterable {
    case min, max

    /// Whether `a` is strictly better than `b`. NaN is never better.
    public func isBetter(_ a: Double, than b: Double) -> Bool {
        if a.isNaN { return false }
        if b.isNaN { return true }
        return self == .min ? a < b : a > b
    }
}

/// A metric to choose the best checkpoint by.
///
/// **The one definition of best.** A value is better only when it is
/// strictly better (`isBetter`); NaN never is. Scanning in step order, the
/// first checkpoint (or epoch) to reach the best value is the best: a later
/// one that only ties it does not displace it — the rule of Keras' and
/// Lightning's `ModelCheckpoint`, which replace on strict improvement. The
/// store's `best`, retention's keep-best, the training loop's `BestScore`
/// and `status` all use it.
public struct Monitor: Sendable, Hashable {
    public var metric: String
    public var mode: MetricMode
    public init(metric: String, mode: MetricMode) {
        self.metric = metric
        self.mode = mode
    }

    /// Whether `a` is strictly better than `b`: a tie is not an improvement. NaN is never better.
    public func isBetter(_ a: Double, than b: Double) -> Bool { mode.isBetter(a, than: b) }

    /// The best of `items`, taken in the order given (step order): the first
    /// to reach the best value; items without a value (or with NaN) are passed over.
    public func best<Item>(of items: some Sequence<Item>, value: (Item) -> Double?) -> Item? {
        var best: (item: Item, value: Double)?
        for item in items {
            guard let v = value(item), !v.isNaN else { continue }
            if let current = best, !isBetter(v, than: current.value) { continue }
            best = (item, v)
        }
        return best?.item
    }

    /// Whether `a` ranks before `b` (for keep-best-K): the better value first,
    /// and among equal values the earlier step.
    public func ranksBefore(_ a: (value: Double, step: Int64), _ b: (value: Double, step: Int64)) -> Bool {
        if isBetter(a.value, than: b.value) { return true }
        if isBetter(b.value, than: a.value) { return false }
        return a.step < b.step
    }
}

/// A run's identity, `run.json`: stable across attempts.
public struct RunInfo: Sendable {
    /// The stable run id (also the W&B run id unless the user chose one).
    public var id: String
    /// A human name, by default the run directory's name.
    public var name: String
    public var createdAt: String
    /// Fingerprint of the config the run was started with; empty when none was given.
    public var configFingerprint: String
    /// The config itself (flattened keys), so a mismatch can name what changed.
    public var config: [String: JSONValue]
    /// Tracker run ids by tracker name (`wandb`, `mlflow`).
    public var trackers: [String: String]
    /// How `best` is chosen when no metric is named.
    public var monitor: Monitor?
    /// Keys this release does not know, kept.
    public var extra: [String: JSONValue]

    /// - Parameter createdAt: RFC 3339 UTC; `nil` is now.
    public init(id: String, name: String, createdAt: String? = nil) {
        self.id = id
        self.name = name
        self.createdAt = createdAt ?? Timestamp.now()
        configFingerprint = ""
        config = [:]
        trackers = [:]
        monitor = nil
        extra = [:]
    }

    /// A new random run id: 12 characters of `[a-z0-9]`, valid as a W&B run id.
    public static func newID() -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789")
        return String((0..<12).map { _ in alphabet[Int.random(in: 0..<alphabet.count)] })
    }

    /// The identity as a JSON object (what `run.json` holds).
    public var json: JSONValue {
        var o = extra
        o["id"] = .string(id)
        o["name"] = .string(name)
        o["created_at"] = .string(createdAt)
        o["config_fingerprint"] = .string(configFingerprint)
        o["config"] = .object(config)
        o["trackers"] = .object(trackers.mapValues { .string($0) })
        if let monitor {
            o["monitor"] = .object(["metric": .string(monitor.metric), "mode": .string(monitor.mode.rawValue)])
        } else {
            o.removeValue(forKey: "monitor")
        }
        return .object(o)
    }

    /// `run.json` files larger than this are refused by the reader.
    public static let maxBytes = 64 << 20

    /// The bytes of `run.json`, checked against the reader's limits (nesting
    /// ``Manifest/maxDepth``, size ``maxBytes``) before anything is written.
    /// - Throws: `.usage` naming the key that nests too deep, or the size.
    public func encodedForWriting() throws -> [UInt8] {
        for (key, value) in config { try Manifest.checkDepth(value, key: "config." + key, enclosing: 2, file: "run.json") }
        for (key, value) in extra { try Manifest.checkDepth(value, key: key, enclosing: 1, file: "run.json") }
        let bytes = Array(json.prettyPrinted().utf8)
        guard bytes.count <= Self.maxBytes else {
            throw ResumableError(
                .usage, "run.json would be \(bytes.count) bytes, more than the \(Self.maxBytes >> 20) MiB it may hold; keep less in the run's config.")
        }
        return bytes
    }

    /// Reads a run identity from JSON (public for the fuzz target).
    public init(json: JSONValue, path: String) throws {
        func invalid(_ reason: String) -> ResumableError {
            ResumableError(
                .corrupt, "\(path) is not a valid run identity: \(reason). Restore it from a backup, or move it away to start a new run.",
                path: path)
        }
        guard case .object(var o) = json else { throw invalid("it is not a JSON object") }
        guard let id = o["id"]?.stringValue, !id.isEmpty else { throw invalid("its \"id\" is missing") }
        self.id = id
        name = o["name"]?.stringValue ?? id
        createdAt = o["created_at"]?.stringValue ?? ""
        configFingerprint = o["config_fingerprint"]?.stringValue ?? ""
        config = o["config"]?.objectValue ?? [:]
        var trackers: [String: String] = [:]
        for (k, v) in o["trackers"]?.objectValue ?? [:] {
            if let s = v.stringValue { trackers[k] = s }
        }
        self.trackers = trackers
        if let m = o["monitor"], let metric = m["metric"]?.stringValue,
            let mode = m["mode"]?.stringValue.flatMap(MetricMode.init(rawValue:))
        {
            monitor = Monitor(metric: metric, mode: mode)
        } else {
            monitor = nil
        }
        for key in ["id", "name", "created_at", "config_fingerprint", "config", "trackers", "monitor"] {
            o.removeValue(forKey: key)
        }
        extra = o
    }

    /// Reads `run.json`.
    static func read(from path: String) throws -> RunInfo {
        let bytes = try FileSystem.readFile(path, limit: maxBytes)
        let json: JSONValue
        do {
            json = try JSONParser(maxDepth: Manifest.maxDepth).parse(bytes)
        } catch {
            throw ResumableError(.corrupt, "\(path) is not valid JSON (\(error)). Restore it, or move it away to start a new run.", path: path, cause: error)
        }
        return try RunInfo(json: json, path: path)
    }
}
