public import JSON

/// Who wrote a journal line: the `source` field of every line of `events.jsonl`.
///
/// Each writer has its own namespace of event names, so `start` of the
/// supervisor (an attempt) and `start` of the training loop (a fresh run) are
/// different events. Writers to come (pipeline, sweep) add a source of their own.
public struct JournalSource: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }

    /// The checkpoint store: `save`, `prune`, `edit`, `reset`.
    public static let store = JournalSource(rawValue: "store")
    /// The Swift training loop: `start`, `resume`, `config_change`, `reset`, `discard`, `interrupt`, `finish`.
    public static let training = JournalSource(rawValue: "training")
    /// `resumable run`: `start`, `finish`, `fail`, `preempt`, `restart`, `give_up`, `requeue`.
    public static let supervisor = JournalSource(rawValue: "supervisor")
    /// Reserved for pipelines of several stages.
    public static let pipeline = JournalSource(rawValue: "pipeline")
    /// Reserved for sweeps of several runs.
    public static let sweep = JournalSource(rawValue: "sweep")
    /// A line of no known writer (a legacy line whose writer cannot be told).
    public static let unknown = JournalSource(rawValue: "unknown")

    public var description: String { rawValue }
}

/// An event name of one writer: each writer declares its names as an enum
/// conforming to this, and appends with `EventJournal.append(_:_:)`.
public protocol JournalEventName: RawRepresentable, Sendable where RawValue == String {
    /// The writer the names belong to.
    static var source: JournalSource { get }
}

/// The journal's vocabulary, one namespace per writer (docs/FORMAT.md, "events.jsonl").
public enum JournalEvent {
    /// Events of the checkpoint store.
    public enum Store: String, JournalEventName, CaseIterable {
        /// A checkpoint was committed (`step`, `epoch`, `bytes`, `metrics`).
        case save
        /// Retention deleted checkpoints (`deleted`: steps).
        case prune
        /// A manifest was edited in place (`step`, `keys`).
        case edit
        /// `resumable reset` deleted checkpoints (`steps`; `to`: the step kept as the newest, or null when all were deleted).
        case reset
        public static let source = JournalSource.store
    }

    /// Events of the Swift training loop.
    public enum Training: String, JournalEventName, CaseIterable {
        /// A fresh start (`config_fingerprint`).
        case start
        /// A start from a checkpoint (`from`, `step`, `epoch`, `total_epochs`, `skipped`).
        case resume
        /// The config changed on resume (`keys`, `from`, `to`).
        case configChange = "config_change"
        /// Checkpoints deleted to start over (`steps`, `to`: null, `reason`).
        case reset
        /// Newer checkpoints deleted by resuming from an older one (`steps`, `to`: that step, `reason`).
        case discard
        /// Stopped by a signal, state saved (`signal`, `step`, `epoch`).
        case interrupt
        /// Training ended (`step`, `epoch`, `total_epochs`, `reason`, `best_score`, `best_epoch`, `monitor`).
        case finish
        public static let source = JournalSource.training
    }

    /// Events of `resumable run`, all with `attempt` (1-based).
    ///
    /// Every attempt starts with `start` and ends with exactly one of `finish`,
    /// `fail` or `preempt`; `restart` comes before the next attempt, `give_up`
    /// when the supervisor stops restarting, `requeue` when it asked Slurm to run
    /// the job again.
    public enum Supervisor: String, JournalEventName, CaseIterable {
        /// An attempt began (`pid`, `command`, `resume_from`, `resume_step`).
        case start
        /// The child exited 0.
        case finish
        /// The child exited non-zero or was killed by a signal it did not ask for.
        case fail
        /// The child exited 75, or was stopped because the supervisor received a stop signal.
        case preempt
        /// Another attempt is about to start (`counted`, `delay`, `reason`).
        case restart
        /// The supervisor stopped restarting (`reason`, `message`).
        case giveUp = "give_up"
        /// The supervisor asked Slurm to requeue the job (`job_id`, `exit_code`).
        case requeue
        public static let source = JournalSource.supervisor
    }
}

/// One line of `events.jsonl`, typed: who wrote it, what happened, when, and its other fields.
public struct JournalEntry: Sendable {
    /// The writer (`source`; for lines written before sources existed, inferred).
    public var source: JournalSource
    /// The event name within the writer's namespace.
    public var event: String
    /// When (RFC 3339 UTC), empty if the line has none.
    public var time: String
    /// The line as written (with `source`, `event` and `time`).
    public var json: JSONValue

    /// Reads a journal line; `nil` when it is not an object with a string `event`.
    /// A line without `source` is classified by its known fields (see `legacySource`).
    public init?(json: JSONValue) {
        guard let object = json.objectValue, let event = object["event"]?.stringValue else { return nil }
        self.event = event
        self.time = object["time"]?.stringValue ?? ""
        self.json = json
        if let source = object["source"]?.stringValue, !source.isEmpty {
            self.source = JournalSource(rawValue: source)
        } else {
            self.source = Self.legacySource(event: event, object)
        }
    }

    /// The writer of a line written before lines named their source: the
    /// supervisor's lines carry `attempt`; otherwise the event name tells
    /// (`save`, `prune`, `edit`: the store; `start`, `resume`, `interrupt`,
    /// `config_change`, `reset`, `discard`, `finish`: the training loop;
    /// `fail`, `preempt`, `restart`, `give_up`, `requeue`: the supervisor).
    static func legacySource(event: String, _ object: [String: JSONValue]) -> JournalSource {
        // The store's `reset` came after `source`: a `reset` line without one is the training loop's.
        if let name = JournalEvent.Store(rawValue: event), name != .reset { return .store }
        if object["attempt"] != nil, JournalEvent.Supervisor(rawValue: event) != nil { return .supervisor }
        if JournalEvent.Training(rawValue: event) != nil { return .training }
        if JournalEvent.Supervisor(rawValue: event) != nil { return .supervisor }
        return .unknown
    }

    /// Whether this is `name` of its writer.
    public func matches<Name: JournalEventName>(_ name: Name) -> Bool {
        source == Name.source && event == name.rawValue
    }

    /// The event as a name of `Name`'s writer, `nil` when another writer wrote it.
    public func name<Name: JournalEventName>(as _: Name.Type) -> Name? {
        source == Name.source ? Name(rawValue: event) : nil
    }

    /// A field of the line.
    public subscript(key: String) -> JSONValue? { json[key] }

    /// The supervisor's attempt number, when the line has one.
    public var attempt: Int64? { json["attempt"]?.intValue }
    /// The checkpoint step the line names (`step`), when it has one.
    public var step: Int64? { json["step"]?.intValue }
}
