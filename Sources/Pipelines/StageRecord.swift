public import JSON
import DurableFiles
import Glibc

/// Where a stage stands in the ledger.
public enum StageStatus: String, Sendable, CaseIterable {
    case notStarted = "not_started"
    case inProgress = "in_progress"
    case completed, failed, interrupted, skipped
}

/// The process that set a stage `in_progress`: with it a reader tells a
/// running stage from one left behind by a process that is gone.
public struct StageOwner: Sendable, Hashable {
    public var pid: Int32
    public var host: String
    /// The boot the process ran in (`/proc/sys/kernel/random/boot_id`).
    public var bootID: String
    /// The process's start time in clock ticks after boot (tells it from a later process with its pid).
    public var startTicks: UInt64

    public init(pid: Int32, host: String, bootID: String, startTicks: UInt64) {
        self.pid = pid
        self.host = host
        self.bootID = bootID
        self.startTicks = startTicks
    }

    /// The calling process.
    public static func current() -> StageOwner {
        let pid = getpid()
        return StageOwner(pid: pid, host: RunLock.hostName(), bootID: RunLock.bootID(), startTicks: ProcessTable.entry(pid)?.startTicks ?? 0)
    }

    /// Whether the process is known to be gone: same host and boot, and no live
    /// process with its pid and start time — or the machine has rebooted. A
    /// process on another host cannot be checked and is not called gone.
    public var isKnownGone: Bool {
        guard host == RunLock.hostName() else { return false }
        if !bootID.isEmpty, bootID != RunLock.bootID() { return true }
        guard let entry = ProcessTable.entry(pid), entry.isAlive else { return true }
        return startTicks != 0 && entry.startTicks != startTicks
    }

    /// The owner as the ledger stores it.
    public var json: JSONValue {
        .object(["pid": .int(Int64(pid)), "host": .string(host), "boot_id": .string(bootID), "start_ticks": .int(Int64(startTicks))])
    }
}

/// One stage's entry in the ledger.
public struct StageRecord: Sendable, Hashable {
    public var status: StageStatus
    /// When the last attempt started (RFC 3339 UTC).
    public var startedAt: String?
    /// When the last attempt ended, completed or failed.
    public var completedAt: String?
    /// How many times the stage was started.
    public var attempts: Int
    public var exitCode: Int32?
    /// The last lines of the stage's error output.
    public var errorTail: [String]
    public var outputs: [StageOutput]
    public var fingerprint: StageFingerprint?
    /// What the stage reported of its progress (`{"epoch": 3, "of": 8}` or any counters).
    public var progress: [String: JSONValue]
    /// The process that set `in_progress`; `nil` otherwise.
    public var owner: StageOwner?

    /// At most this many lines of error are kept.
    public static let maxErrorLines = 20

    public init(status: StageStatus = .notStarted) {
        self.status = status
        attempts = 0
        errorTail = []
        outputs = []
        progress = [:]
    }

    /// The status a reader should show: `in_progress` left by a process that
    /// is gone is `interrupted`.
    public var observedStatus: StageStatus {
        if status == .inProgress, owner?.isKnownGone ?? true { return .interrupted }
        return status
    }

    /// Marks the stage started by the calling process: `in_progress`, one more attempt.
    public mutating func markStarted(fingerprint: StageFingerprint, at time: String? = nil) {
        status = .inProgress
        startedAt = time ?? Timestamp.now()
        completedAt = nil
        attempts += 1
        exitCode = nil
        errorTail = []
        self.fingerprint = fingerprint
        owner = .current()
    }

    /// Marks the stage completed with the outputs it produced.
    public mutating func markCompleted(outputs: [StageOutput], at time: String? = nil) {
        status = .completed
        completedAt = time ?? Timestamp.now()
        exitCode = 0
        self.outputs = outputs
        owner = nil
    }

    /// Marks the stage failed with its exit code and the last lines of its error output.
    public mutating func markFailed(exitCode: Int32?, errorTail: [String], at time: String? = nil) {
        status = .failed
        completedAt = time ?? Timestamp.now()
        self.exitCode = exitCode
        self.errorTail = Array(errorTail.suffix(Self.maxErrorLines))
        owner = nil
    }

    /// The record as the ledger stores it.
    public var json: JSONValue {
        var o: [String: JSONValue] = [
            "status": .string(status.rawValue), "attempts": .int(Int64(attempts)),
            "error_tail": .array(errorTail.map { .string($0) }), "outputs": .array(outputs.map(\.json)),
            "progress": .object(progress),
        ]
        o["started_at"] = startedAt.map { .string($0) } ?? .null
        o["completed_at"] = completedAt.map { .string($0) } ?? .null
        o["exit_code"] = exitCode.map { .int(Int64($0)) } ?? .null
        o["fingerprint"] = fingerprint?.json ?? .null
        o["owner"] = owner?.json ?? .null
        return .object(o)
    }
}
