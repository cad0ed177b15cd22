import Logging
import Resumable

/// A checkpoint named on the command line, resolved.
struct ResolvedCheckpoint {
    /// The checkpoint.
    var checkpoint: Checkpoint
    /// Its run, when it lives in one (a copied checkpoint directory has none).
    var store: CheckpointStore?
}

/// Opening runs and resolving checkpoint references
/// (`RUN`, `RUN@latest`, `RUN@best`, `RUN@step-N`, a checkpoint directory).
enum References {
    /// The logger library notices go through.
    static let logger = Logger(label: "resumable")

    /// Refuses object-store runs, which this release does not read yet.
    static func requireLocal(_ text: String) throws {
        if text.hasPrefix("s3://") {
            throw ResumableError(
                .usage, "\(text): runs in object storage (s3://) are not supported by this command yet; use a local run directory.")
        }
    }

    /// Opens the run in `directory`.
    static func openRun(_ directory: String, access: CheckpointStore.Access = .read, create: Bool = false) throws
        -> CheckpointStore
    {
        try requireLocal(directory)
        if !FileSystem.exists(directory), let reference = try? CheckpointReference(parsing: directory),
            reference.run != directory, FileSystem.exists(reference.run)
        {
            throw ResumableError(
                .usage,
                "\(directory) names a checkpoint, but this command takes a run directory. Give the run, \(reference.run), or look at that checkpoint with `resumable inspect \(directory)`.",
                path: directory)
        }
        return try CheckpointStore(directory: directory, access: access, create: create, logger: logger)
    }

    /// Resolves a reference.
    /// - Parameters:
    ///   - monitor: the metric for `RUN@best` (default: the run's monitor).
    ///   - verify: resolve `latest` to the newest checkpoint that verifies, falling back past corrupt ones.
    ///   - access: how to open the run.
    static func resolve(
        _ text: String, monitor: Monitor? = nil, verify: Bool = false, access: CheckpointStore.Access = .read
    ) throws -> ResolvedCheckpoint {
        try requireLocal(text)
        if let standalone = try standaloneCheckpoint(text) {
            return ResolvedCheckpoint(checkpoint: standalone, store: nil)
        }
        let reference = try CheckpointReference(parsing: text)
        let store = try openRun(reference.run, access: access)
        var selector = reference.selector
        if case .best(nil) = selector, let monitor { selector = .best(monitor) }
        let resolution = try store.resolve(selector, verify: verify)
        return ResolvedCheckpoint(checkpoint: resolution.checkpoint, store: store)
    }

    /// Whether `text` names one checkpoint exactly (`RUN@step-N`, a checkpoint
    /// directory), rather than one chosen by a rule (`RUN`, `RUN@latest`, `RUN@best`).
    static func isExact(_ text: String) throws -> Bool {
        if try standaloneCheckpoint(text) != nil { return true }
        if case .step = try CheckpointReference(parsing: text).selector { return true }
        return false
    }

    /// A checkpoint directory outside a run's layout (one holding `manifest.json`
    /// whose parent is not `checkpoints/`), read on its own; `nil` otherwise.
    static func standaloneCheckpoint(_ text: String) throws -> Checkpoint? {
        let manifest = FilePath.join(text, "manifest.json")
        guard FileSystem.isDirectory(text), FileSystem.exists(manifest),
            FilePath.lastComponent(of: FilePath.parent(of: text)) != "checkpoints"
        else { return nil }
        return Checkpoint(directory: text, manifest: try Manifest.read(from: manifest))
    }
}
