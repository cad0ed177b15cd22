public import DurableFiles

/// A committed checkpoint: its directory and its manifest.
public struct Checkpoint: Sendable {
    /// The step it was taken at.
    public var step: Int64 { manifest.step }
    /// The checkpoint directory (`RUN/checkpoints/step-000000001200`).
    public var directory: String
    /// The commit record.
    public var manifest: Manifest

    public init(directory: String, manifest: Manifest) {
        self.directory = directory
        self.manifest = manifest
    }

    /// The path of one of the checkpoint's files.
    public func path(of file: String) -> String { FilePath.join(directory, file) }

    /// Total bytes of the checkpoint's files (manifest excluded).
    /// A manifest read from disk never overflows (``Manifest/init(json:path:)``
    /// refuses it); one built in memory saturates at `Int64.max` rather than trap.
    public var bytes: Int64 { Self.total(manifest.files.lazy.map(\.bytes)) }

    /// The sum of sizes, saturating at `Int64.max` (negative sizes count as 0):
    /// sizes come from files and must never trap the process that adds them.
    public static func total<S: Sequence<Int64>>(_ sizes: S) -> Int64 {
        var sum: Int64 = 0
        for size in sizes where size > 0 {
            let (next, overflow) = sum.addingReportingOverflow(size)
            if overflow { return .max }
            sum = next
        }
        return sum
    }

    /// The directory name of a step: `step-` and twelve digits.
    public static func directoryName(step: Int64) -> String {
        let digits = String(step)
        return "step-" + String(repeating: "0", count: max(0, 12 - digits.count)) + digits
    }

    /// The step of a directory name made by `directoryName(step:)`, or `nil`.
    /// Only the canonical name counts: `step-0000000000004` (13 digits) is not
    /// a second directory of step 4.
    public static func step(fromDirectoryName name: String) -> Int64? {
        guard name.hasPrefix("step-") else { return nil }
        let digits = name.dropFirst(5)
        guard digits.count >= 12, digits.utf8.allSatisfy({ (48...57).contains($0) }), let step = Int64(digits),
            directoryName(step: step) == name
        else { return nil }
        return step
    }
}

/// A step directory that could not be read as a checkpoint (its manifest is
/// missing or damaged). It is listed so people see it, and never loaded.
public struct DamagedCheckpoint: Sendable {
    public var step: Int64
    public var directory: String
    /// Why it cannot be used.
    public var reason: String
    /// The error reading its manifest gave: `.corrupt` (damaged, or sizes that
    /// overflow), `.notFound` (no manifest), `.unsupportedVersion` (written by
    /// a newer release)…
    public var code: ResumableError.Code = .corrupt

    /// Whether `prune` may delete it (when older than the latest readable
    /// checkpoint): its manifest is damaged or missing, so it can never be
    /// loaded. One written by a newer release is kept.
    public var isPrunable: Bool { code == .corrupt || code == .notFound }
}

/// What a directory scan found.
public struct CheckpointScan: Sendable {
    /// Readable checkpoints, ordered by step.
    public var checkpoints: [Checkpoint]
    /// Step directories whose manifest cannot be read, ordered by step.
    public var damaged: [DamagedCheckpoint]
}

/// Which checkpoint of a run.
public enum CheckpointSelector: Sendable, Hashable, CustomStringConvertible {
    /// The highest committed step.
    case latest
    /// The best by a metric; `nil` uses the run's monitor.
    case best(Monitor?)
    /// Exactly this step.
    case step(Int64)

    public var description: String {
        switch self {
        case .latest: return "latest"
        case .best: return "best"
        case .step(let s): return Checkpoint.directoryName(step: s)
        }
    }

    /// Parses `latest`, `best`, `step-1200` or `1200`.
    public init?(_ text: String) {
        switch text {
        case "latest", "": self = .latest
        case "best": self = .best(nil)
        default:
            let digits = text.hasPrefix("step-") ? String(text.dropFirst(5)) : text
            guard let n = Int64(digits), n >= 0 else { return nil }
            self = .step(n)
        }
    }
}
