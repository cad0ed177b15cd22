import DurableFiles
public import JSON

/// Everything `resumable status` shows about a run, as data: the run's
/// identity, its lock, its checkpoints, its trackers and its recent events —
/// and the sections other parts of Resumable add (the supervisor's attempts,
/// training progress, pipeline stages), which read the journal's summary
/// `history`.
///
/// A status is a list of `Section`s. Each section carries both a typed-free
/// JSON value (for `--json`) and rows for people, so a renderer shows new
/// sections without knowing them. Build one with
/// `RunStatus.build(from:monitor:recentEvents:contributors:)`.
public struct RunStatus: Sendable {
    /// The run directory.
    public var directory: String
    /// The run's identity (`run.json`).
    public var identity: Identity
    /// Who holds (or last held) the run's lock.
    public var lock: LockState?
    /// Counts, size, latest and best.
    public var checkpoints: CheckpointSummary
    /// Tracker run ids by tracker name (`wandb`, `mlflow`).
    public var trackers: [String: String]
    /// The journal's summary: attempts and resumes (`events.jsonl`).
    public var history: RunHistory
    /// The newest events of the journal, oldest first.
    public var recentEvents: [JSONValue]
    /// Sections contributed beyond the core ones, in the order they were added.
    public var additionalSections: [Section]

    /// The run's identity.
    public struct Identity: Sendable {
        public var id: String
        public var name: String
        public var createdAt: String
        public var configFingerprint: String
        /// How `best` is chosen when no metric is named.
        public var monitor: Monitor?
    }

    /// The run's lock: its holder as written in `.lock`, and whether that holder is alive.
    public struct LockState: Sendable {
        public var pid: Int32
        public var host: String
        public var startedAt: String
        public var command: String
        /// Whether a live process holds the lock now.
        public var isLive: Bool
    }

    /// A checkpoint in brief: step, epoch, metrics, when, where.
    public struct CheckpointBrief: Sendable {
        public var step: Int64
        public var epoch: Int64
        public var createdAt: String
        public var metrics: [String: Double]
        public var directory: String
        public var bytes: Int64

        /// Summarises a checkpoint.
        public init(_ checkpoint: Checkpoint) {
            step = checkpoint.step
            epoch = checkpoint.manifest.epoch
            createdAt = checkpoint.manifest.createdAt
            metrics = checkpoint.manifest.metrics
            directory = checkpoint.directory
            bytes = checkpoint.bytes
        }
    }

    /// The run's checkpoints in numbers.
    public struct CheckpointSummary: Sendable {
        /// Readable committed checkpoints.
        public var count: Int
        /// Step directories whose manifest cannot be read.
        public var damaged: [DamagedCheckpoint]
        /// Bytes of all readable checkpoints' files.
        public var totalBytes: Int64
        /// The newest readable checkpoint (not verified).
        public var latest: CheckpointBrief?
        /// The best checkpoint by `monitor`, when there is a monitor.
        public var best: CheckpointBrief?
        /// The metric `best` was chosen by.
        public var monitor: Monitor?
    }

    /// One part of the status, renderable without knowing what it holds.
    public struct Section: Sendable {
        /// The key of the section in the JSON form (`snake_case`).
        public var id: String
        /// The heading people see.
        public var title: String
        /// Label and value pairs, in order, for people.
        public var rows: [Row]
        /// The section's data for `--json`.
        public var json: JSONValue

        /// A section.
        public init(id: String, title: String, rows: [Row], json: JSONValue) {
            self.id = id
            self.title = title
            self.rows = rows
            self.json = json
        }
    }

    /// One label and value of a section.
    public struct Row: Sendable, Hashable {
        public var label: String
        public var value: String

        /// A row.
        public init(_ label: String, _ value: String) {
            self.label = label
            self.value = value
        }
    }

    /// Adds a section after the core ones, replacing one with the same id.
    public mutating func add(_ section: Section) {
        if let i = additionalSections.firstIndex(where: { $0.id == section.id }) {
            additionalSections[i] = section
        } else {
            additionalSections.append(section)
        }
    }

    /// The section with `id`, core or added.
    public func section(_ id: String) -> Section? { sections.first { $0.id == id } }
}

/// Something that adds a section to a run's status (training progress,
/// supervisor attempts, pipeline stages). Return `nil` when it has nothing
/// to say about the run.
public protocol RunStatusContributor: Sendable {
    /// The section this contributor adds for the run of `store`, or `nil`.
    func section(for store: CheckpointStore, status: RunStatus) throws -> RunStatus.Section?
}
