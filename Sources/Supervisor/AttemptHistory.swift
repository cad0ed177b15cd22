public import CheckpointStore
public import JSON

/// The supervisor's journal events (`source: supervisor`).
public typealias SupervisorEvent = JournalEvent.Supervisor

/// The supervisor's view of the journal's summary (`RunHistory`): attempts,
/// restarts, preemptions, requeues, the last failure and why it gave up
/// (for `resumable status` and the supervisor's own numbering).
public struct AttemptHistory: Sendable {
    /// One attempt that failed.
    public struct Failure: Sendable {
        /// The attempt number.
        public var attempt: Int64
        /// When it ended (RFC 3339).
        public var time: String
        /// `exit code 3` or `signal 9 (SIGKILL)`.
        public var reason: String
        /// The latest checkpoint step when it ended.
        public var step: Int64?
    }

    /// The journal's summary this is derived from.
    public var run: RunHistory
    /// Attempts started by `resumable run` (all supervisors of the run together;
    /// the training loop's own `start` lines are not attempts).
    public var attempts: Int { run.supervisedAttempts }
    /// Restarts after failures (those counted against `--max-restarts`).
    public var restarts: Int = 0
    /// Attempts that ended preempted (exit 75 or a stop signal).
    public var preemptions: Int = 0
    /// Requeues asked of Slurm.
    public var requeues: Int = 0
    /// The most recent failed attempt.
    public var lastFailure: Failure?
    /// The supervisor's most recent `fail` line.
    public var lastFailureEvent: JournalEntry?
    /// The last attempt's ending event (`finish`, `fail`, `preempt`), `nil` if it has not ended.
    public var lastOutcome: String?
    /// Why the supervisor last gave up, if it did after the last start.
    public var gaveUp: String?

    /// An empty summary (no attempts).
    public init() { run = RunHistory() }

    /// The supervisor's part of the journal's summary.
    public init(run: RunHistory) {
        self.run = run
        for entry in run.entries {
            guard let name = entry.name(as: SupervisorEvent.self) else { continue }
            switch name {
            case .start:
                lastOutcome = nil
                gaveUp = nil
            case .finish:
                lastOutcome = name.rawValue
            case .fail:
                lastOutcome = name.rawValue
                lastFailureEvent = entry
                lastFailure = Failure(
                    attempt: entry.attempt ?? Int64(run.supervisedAttempts), time: entry.time,
                    reason: Self.reason(entry.json), step: entry.step)
            case .preempt:
                lastOutcome = name.rawValue
                preemptions += 1
            case .restart:
                if entry["counted"]?.boolValue ?? true { restarts += 1 }
            case .giveUp:
                gaveUp = entry["message"]?.stringValue ?? entry["reason"]?.stringValue ?? "gave up"
            case .requeue:
                requeues += 1
            }
        }
    }

    /// Summarises the journal's lines (oldest first).
    public init(events: [JSONValue]) {
        self.init(run: RunHistory(events: events))
    }

    /// Reads and summarises a run's journal.
    public init(journal: EventJournal) throws {
        self.init(run: try RunHistory(journal: journal))
    }

    private static func reason(_ event: JSONValue) -> String {
        if let code = event["exit_code"]?.intValue { return "exit code \(code)" }
        if let signal = event["signal"]?.intValue {
            let name = event["signal_name"]?.stringValue
            return "signal \(signal)" + (name.map { " (\($0))" } ?? "")
        }
        return "unknown"
    }

    /// `{"attempts", "restarts", "preemptions", "requeues", "last_outcome",
    /// "gave_up", "last_failure": {"attempt", "time", "reason", "step"} | null}`.
    public var json: JSONValue {
        var o: [String: JSONValue] = [
            "attempts": .int(Int64(attempts)), "restarts": .int(Int64(restarts)),
            "preemptions": .int(Int64(preemptions)), "requeues": .int(Int64(requeues)),
            "last_outcome": lastOutcome.map { .string($0) } ?? .null,
            "gave_up": gaveUp.map { .string($0) } ?? .null,
        ]
        if let f = lastFailure {
            o["last_failure"] = .object([
                "attempt": .int(f.attempt), "time": .string(f.time), "reason": .string(f.reason),
                "step": f.step.map { .int($0) } ?? .null,
            ])
        } else {
            o["last_failure"] = .null
        }
        return .object(o)
    }
}
