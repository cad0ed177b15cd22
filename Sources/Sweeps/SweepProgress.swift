/// Where a running sweep stands: what `sweep run` shows on its progress line.
///
/// Counts are over every unit of the sweep, those finished before this run
/// included; ``running`` counts the units this process runs now.
public struct SweepProgress: Sendable, Hashable {
    /// The sweep's name.
    public var name: String
    /// Units in the sweep.
    public var total: Int
    /// Units done (before this run or in it, here or by another process).
    public var done: Int
    /// Units failed with no retries left.
    public var failed: Int
    /// Units this process runs now.
    public var running: Int
    /// Units another process runs (claimed elsewhere, or recorded running by a live process).
    public var elsewhere: Int
    /// Units this run has still to start.
    public var queued: Int
    /// Seconds since the run started.
    public var elapsed: Double
    /// Seconds until the units this run has left are finished, estimated from
    /// the mean duration of the units done in this run × the units left ÷
    /// the workers; `nil` until a unit is done.
    public var eta: Double?

    public init(name: String, total: Int, done: Int, failed: Int, running: Int, elsewhere: Int, queued: Int, elapsed: Double, eta: Double?) {
        self.name = name
        self.total = total
        self.done = done
        self.failed = failed
        self.running = running
        self.elsewhere = elsewhere
        self.queued = queued
        self.elapsed = elapsed
        self.eta = eta
    }

    /// The estimate of ``eta``: `meanDuration × left ÷ workers`, or `nil` without a mean.
    public static func estimate(meanDuration: Double?, left: Int, workers: Int) -> Double? {
        guard let meanDuration, meanDuration.isFinite, left >= 0 else { return nil }
        return meanDuration * Double(left) / Double(max(1, workers))
    }
}

/// How one unit's turn in a `sweep run` ended (one attempt, or a unit not run).
public struct SweepUnitEnd: Sendable {
    /// What became of the unit.
    public enum Outcome: String, Sendable {
        /// Finished with its result recorded.
        case done
        /// The attempt failed (``SweepUnitEnd/willRetry`` says whether another starts).
        case failed
        /// Stopped by a signal: it resumes at the next run.
        case interrupted
        /// Not run by this process (claimed elsewhere, found done or failed under the claim, a damaged record).
        case skipped
    }

    /// Why a unit was skipped.
    public enum SkipReason: String, Sendable {
        /// Another process holds the unit's claim (it runs it).
        case claimedElsewhere
        /// Its record said done once the claim was held (another process finished it).
        case doneElsewhere
        /// Its record said failed with no retries left once the claim was held.
        case failedElsewhere
        /// Its record is damaged (left alone).
        case damaged
        /// The run was stopped before the unit started.
        case stopped
    }

    public var key: String
    /// `name=value …`.
    public var label: String
    public var outcome: Outcome
    /// Set for ``Outcome/skipped``.
    public var skipReason: SkipReason?
    /// The attempt's number (the record's `attempts`); 0 when not started.
    public var attempt: Int
    /// How long the attempt took.
    public var duration: Double?
    /// The exit code, when the unit exited.
    public var exitCode: Int32?
    /// Why it failed, was skipped or stopped, in words; empty when done.
    public var message: String
    /// Whether a failed unit is started again in this run (`retries`).
    public var willRetry: Bool
    /// The unit's log, absolute.
    public var logPath: String
    /// The sweep's progress once this end is counted.
    public var progress: SweepProgress

    public init(
        key: String, label: String, outcome: Outcome, skipReason: SkipReason? = nil, attempt: Int, duration: Double? = nil,
        exitCode: Int32? = nil, message: String = "", willRetry: Bool = false, logPath: String, progress: SweepProgress
    ) {
        self.key = key
        self.label = label
        self.outcome = outcome
        self.skipReason = skipReason
        self.attempt = attempt
        self.duration = duration
        self.exitCode = exitCode
        self.message = message
        self.willRetry = willRetry
        self.logPath = logPath
        self.progress = progress
    }
}

/// What a `sweep run` tells its caller as it goes (on the thread that called
/// ``SweepRunner/run(beforeUnits:onEvent:)``, in order).
public enum SweepEvent: Sendable {
    /// A unit's attempt started.
    case started(key: String, label: String, attempt: Int, progress: SweepProgress)
    /// A unit's attempt ended, or a unit was skipped.
    case ended(SweepUnitEnd)
    /// The progress, about every ``SweepRunOptions/progressInterval`` seconds.
    case progress(SweepProgress)
    /// A stop signal arrived: running units are being stopped, none starts.
    case stopping(signal: Int32, running: Int)
}
