public import JSON

/// What the journal says about a job's attempts under `resumable run`:
/// attempts, restarts, preemptions, requeues and the last failure (for `resumable status`).
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

    /// Attempts started (all supervisors of the run together).
    public var attempts: Int = 0
    /// Restarts after failures (those counted against `--max-restarts`).
    public var restarts: Int = 0
    /// Attempts that ended preempted (exit 75 or a stop signal).
    public var preemptions: Int = 0
    /// Requeues asked of Slurm.
    public var requeues: Int = 0
    /// The most recent failed attempt.
    public var lastFailure: Failure?
    /// The last attempt's ending event (`finish`, `fail`, `preempt`), `nil` if it has not ended.
    public var lastOutcome: String?
    /// Why the supervisor last gave up, if it did after the last start.
    public var gaveUp: String?

    /// An empty summary (no attempts).
    public init() {}

    /// Summarises the journal's events (oldest first).
    public init(events: [JSONValue]) {
        for event in events {
            guard let name = event["event"]?.stringValue.flatMap(AttemptEvent.init(rawValue:)) else { continue }
            switch name {
            case .start:
                attempts += 1
                lastOutcome = nil
                gaveUp = nil
            case .finish:
                lastOutcome = name.rawValue
            case .fail:
                lastOutcome = name.rawValue
                lastFailure = Failure(
                    attempt: event["attempt"]?.intValue ?? Int64(attempts), time: event["time"]?.stringValue ?? "",
                    reason: Self.reason(event), step: event["step"]?.intValue)
            case .preempt:
                lastOutcome = name.rawValue
                preemptions += 1
            case .restart:
                if event["counted"]?.boolValue ?? true { restarts += 1 }
            case .giveUp:
                gaveUp = event["message"]?.stringValue ?? event["reason"]?.stringValue ?? "gave up"
            case .requeue:
                requeues += 1
            }
        }
    }

    /// Reads and summarises a run's journal.
    public init(journal: EventJournal) throws {
        self.init(events: try journal.read())
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
