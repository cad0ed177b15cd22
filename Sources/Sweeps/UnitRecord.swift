public import JSON
public import Pipelines
import DurableFiles

/// Where a unit stands.
public enum UnitStatus: String, Sendable, CaseIterable {
    /// Not started, or reopened (`sweep rerun`).
    case pending
    /// Started by the process named in the record's owner.
    case running
    /// Finished with exit 0 and its result recorded.
    case done
    /// The last attempt failed.
    case failed
    /// Stopped by a signal (exit 75) or left `running` by a process that is
    /// gone: it resumes when run again.
    case interrupted
}

/// A unit's record, `RUN/sweeps/NAME/units/KEY.json`.
///
/// Written atomically (``write(to:)``), read strictly (``read(path:)``):
/// docs/SWEEPS.md, "Unit records".
public struct UnitRecord: Sendable, Hashable {
    /// The schema this release writes and reads.
    public static let schemaVersion = 1
    /// Records larger than this are refused.
    public static let maxBytes = 16 << 20
    /// At most this many lines of error are kept.
    public static let maxErrorLines = 20

    /// The unit's key: the first 16 hex digits of ``fingerprint``.
    public var key: String
    /// The unit's fingerprint, 64 hex digits.
    public var fingerprint: String
    /// The unit's parameters.
    public var params: [String: SweepValue]
    public var status: UnitStatus
    /// How many times the unit was started.
    public var attempts: Int
    /// When the last attempt started (RFC 3339 UTC).
    public var startedAt: String?
    /// When the last attempt ended, done or failed.
    public var finishedAt: String?
    /// How long the last attempt took.
    public var durationSeconds: Double?
    public var exitCode: Int32?
    /// The unit's output, relative to the sweep directory (`logs/KEY.log`).
    public var log: String
    /// The result the unit produced (when done).
    public var result: UnitResult?
    /// The last lines of a failed unit's output.
    public var errorTail: [String]
    /// The process that set `running`; `nil` otherwise.
    public var owner: StageOwner?
    /// The Slurm array task that ran it, if one did.
    public var slurm: SlurmTask?

    /// A `pending` record for `unit`.
    public init(unit: SweepUnit) {
        self.init(key: unit.key, fingerprint: unit.fingerprint, params: Dictionary(unit.params.map { ($0.name, $0.value) }, uniquingKeysWith: { a, _ in a }))
    }

    /// A `pending` record.
    public init(key: String, fingerprint: String, params: [String: SweepValue]) {
        self.key = key
        self.fingerprint = fingerprint
        self.params = params
        status = .pending
        attempts = 0
        log = SweepStore.relativeLogPath(key)
        errorTail = []
    }

    /// The status a reader should show: `running` left by a process that is
    /// gone (same host, and no live process with its pid and start time, or
    /// another boot) is `interrupted`. A process on another host cannot be
    /// checked and stays `running`.
    public var observedStatus: UnitStatus {
        if status == .running, owner?.isKnownGone ?? true { return .interrupted }
        return status
    }

    /// Marks the unit started by the calling process: `running`, one more attempt.
    public mutating func markStarted(at time: String? = nil, slurm: SlurmTask? = nil) {
        status = .running
        attempts += 1
        startedAt = time ?? Timestamp.now()
        finishedAt = nil
        durationSeconds = nil
        exitCode = nil
        result = nil
        errorTail = []
        owner = .current()
        self.slurm = slurm
    }

    /// Marks the unit done with its result.
    public mutating func markDone(result: UnitResult, at time: String? = nil) {
        finish(.done, at: time)
        exitCode = 0
        self.result = result
    }

    /// Marks the unit failed with its exit code (`nil` when it never started
    /// or ended by a signal) and the last lines of its output.
    public mutating func markFailed(exitCode: Int32?, errorTail: [String], at time: String? = nil) {
        finish(.failed, at: time)
        self.exitCode = exitCode
        self.errorTail = Array(errorTail.suffix(Self.maxErrorLines))
    }

    /// Marks the unit interrupted (stopped by a signal; it resumes when run again).
    public mutating func markInterrupted(at time: String? = nil) {
        finish(.interrupted, at: time)
    }

    /// Reopens the unit (`sweep rerun`): `pending`, attempts back to 0, the
    /// result and the last failure cleared. The times of the last attempt stay.
    public mutating func reopen() {
        status = .pending
        attempts = 0
        exitCode = nil
        result = nil
        errorTail = []
        owner = nil
    }

    private mutating func finish(_ status: UnitStatus, at time: String?) {
        self.status = status
        let end = time ?? Timestamp.now()
        finishedAt = end
        if let start = startedAt.flatMap(Timestamp.parse), let stop = Timestamp.parse(end) { durationSeconds = max(0, stop - start) }
        owner = nil
    }
}

/// What a finished unit produced.
public enum UnitResult: Sendable, Hashable {
    /// The result file parsed as JSON (a `.json` result path).
    case json(JSONValue)
    /// Any other result file, recorded by path, size and SHA-256.
    case file(path: String, bytes: Int64, sha256: String)

    /// The result as the record holds it: `{"json": …}` or `{"path", "bytes", "sha256"}`.
    public var json: JSONValue {
        switch self {
        case .json(let value): return .object(["json": value])
        case .file(let path, let bytes, let sha256): return .object(["path": .string(path), "bytes": .int(bytes), "sha256": .string(sha256)])
        }
    }
}

/// The Slurm array task that ran a unit.
public struct SlurmTask: Sendable, Hashable {
    /// `SLURM_JOB_ID` (or `SLURM_ARRAY_JOB_ID`).
    public var jobID: String
    /// `SLURM_ARRAY_TASK_ID`, when the job is an array.
    public var arrayTaskID: Int?

    public init(jobID: String, arrayTaskID: Int? = nil) {
        self.jobID = jobID
        self.arrayTaskID = arrayTaskID
    }

    /// The task as the record holds it: `{"job_id", "array_task_id"}`.
    public var json: JSONValue {
        .object(["job_id": .string(jobID), "array_task_id": arrayTaskID.map { .int(Int64($0)) } ?? .null])
    }
}
