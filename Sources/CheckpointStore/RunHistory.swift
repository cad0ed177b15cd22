public import JSON

/// What the journal says about a run's attempts — the one summary of
/// `events.jsonl` that `resumable status`, the supervisor's attempt numbers
/// (`RESUMABLE_ATTEMPT`) and its messages all use.
///
/// An attempt is either one of the supervisor's (from its `start` to the next
/// one) or, for a Swift training loop run without a supervisor, one training
/// session (a training `start` or `resume` outside any supervised attempt).
/// The training loop's `start`/`resume` inside a supervised attempt belong to
/// that attempt and are not attempts of their own. An attempt is a resume
/// when it started from a checkpoint: the supervisor's `start` names one
/// (`resume_from`/`resume_step`), or the training loop recorded `resume`.
public struct RunHistory: Sendable {
    /// One attempt.
    public struct Attempt: Sendable {
        /// Started by `resumable run` (otherwise a training session run directly).
        public var supervised: Bool
        /// The supervisor's attempt number (1-based); `nil` for a session run directly.
        public var number: Int64?
        /// Whether it started from a checkpoint.
        public var resumed: Bool
        /// The step it started from, when known.
        public var resumeStep: Int64?
        /// Its first line: the supervisor's `start`, or the training loop's `start`/`resume`.
        public var start: JournalEntry
        /// The line that ended it (the supervisor's `finish`/`fail`/`preempt`,
        /// or the training loop's `finish`/`interrupt`), `nil` while running or
        /// when it died without one.
        public var end: JournalEntry?
    }

    /// Every line of the journal, typed, oldest first.
    public var entries: [JournalEntry]
    /// The attempts, oldest first.
    public var attempts: [Attempt]

    /// Attempts started by `resumable run`: the number of the supervisor's `start` lines.
    public var supervisedAttempts: Int { attempts.lazy.filter(\.supervised).count }
    /// Attempts that started from a checkpoint.
    public var resumes: Int { attempts.lazy.filter(\.resumed).count }
    /// The newest line.
    public var lastEvent: JournalEntry? { entries.last }

    /// An empty history.
    public init() {
        entries = []
        attempts = []
    }

    /// Summarises typed journal lines (oldest first).
    public init(entries: [JournalEntry]) {
        self.entries = entries
        attempts = []
        var supervisedOpen = false
        // Training lines of a supervised attempt (they carry its `attempt`)
        // written before the supervisor's own `start` line of that attempt.
        var early: [Int64: JournalEntry] = [:]
        for entry in entries {
            if let name = entry.name(as: JournalEvent.Supervisor.self) {
                switch name {
                case .start:
                    let step = entry["resume_step"]?.intValue
                    let from = entry["resume_from"]?.stringValue
                    attempts.append(
                        Attempt(
                            supervised: true, number: entry.attempt, resumed: step != nil || !(from ?? "").isEmpty,
                            resumeStep: step, start: entry, end: nil))
                    supervisedOpen = true
                    if let n = entry.attempt, let training = early.removeValue(forKey: n), training.matches(JournalEvent.Training.resume) {
                        attempts[attempts.count - 1].resumed = true
                        if step == nil { attempts[attempts.count - 1].resumeStep = training.step }
                    }
                case .finish, .fail, .preempt:
                    if supervisedOpen, !attempts.isEmpty, attempts[attempts.count - 1].end == nil {
                        attempts[attempts.count - 1].end = entry
                    }
                    supervisedOpen = false
                case .restart, .giveUp, .requeue:
                    break
                }
            } else if let name = entry.name(as: JournalEvent.Training.self) {
                switch name {
                case .start, .resume:
                    let resumed = name == .resume
                    if let n = entry.attempt, !(supervisedOpen && attempts.last?.number == n) {
                        early[n] = entry
                    } else if supervisedOpen, !attempts.isEmpty {
                        if resumed {
                            attempts[attempts.count - 1].resumed = true
                            if attempts[attempts.count - 1].resumeStep == nil { attempts[attempts.count - 1].resumeStep = entry.step }
                        }
                    } else {
                        attempts.append(
                            Attempt(
                                supervised: false, number: nil, resumed: resumed, resumeStep: resumed ? entry.step : nil,
                                start: entry, end: nil))
                    }
                case .finish, .interrupt:
                    if !supervisedOpen, !attempts.isEmpty, !attempts[attempts.count - 1].supervised,
                        attempts[attempts.count - 1].end == nil
                    {
                        attempts[attempts.count - 1].end = entry
                    }
                case .configChange, .reset, .discard:
                    break
                }
            }
        }
    }

    /// Summarises journal lines as read (`EventJournal.read()`); lines without an `event` are left out.
    public init(events: [JSONValue]) {
        self.init(entries: events.compactMap(JournalEntry.init(json:)))
    }

    /// Reads and summarises a run's journal.
    public init(journal: EventJournal) throws {
        self.init(entries: try journal.entries())
    }

    /// The newest line of `name`'s writer and name.
    public func last<Name: JournalEventName>(_ name: Name) -> JournalEntry? {
        entries.last { $0.matches(name) }
    }
}
