import CheckpointStore
import DurableFiles
import JSON
import Logging

/// Drives training with checkpoints: resumes as `options.resume` says, runs
/// the program's steps over the data cursor, evaluates at each epoch's end,
/// tracks history, best score and early stopping, saves on its triggers,
/// applies retention, and on a stop signal saves at the next step boundary
/// and throws `.interrupted` (exit 75).
///
/// ```swift
/// let loop = TrainingLoop(options: options, hooks: hooks)
/// let result = try loop.run(from: initialState)
/// ```
public struct TrainingLoop {
    /// How the loop saves, resumes and stops.
    public var options: TrainingOptions
    /// The program's step and evaluation.
    public var hooks: TrainingHooks

    /// A loop.
    public init(options: TrainingOptions, hooks: TrainingHooks) {
        self.options = options
        self.hooks = hooks
    }

    /// Runs training to its end (or to a stop signal).
    ///
    /// - Parameter initial: the fresh state, also the template a checkpoint is
    ///   restored into (its tensor names and shapes are checked); its
    ///   `progress.totalEpochs` is the number of epochs asked for.
    /// - Returns: how training ended, with the final state.
    /// - Throws: `.interrupted` after saving on a stop signal; `.notFound`
    ///   when `must` finds nothing; `.conflict` for a changed config or a run
    ///   that `never` would overwrite; `.usage` when fewer epochs are asked for
    ///   than are done; store errors.
    public func run(from initial: TrainingState) throws -> TrainingResult {
        // Installed first, so a signal while the run is opened and the state
        // restored stops training at its first step boundary.
        InterruptFlag.install(for: options.signals)
        defer { InterruptFlag.uninstall(for: options.signals) }
        var mayCreate = true
        if case .must = options.resume { mayCreate = false }
        let directoryExisted = FileSystem.exists(options.runDirectory)
        let runExisted = FileSystem.exists(FilePath.join(options.runDirectory, "run.json"))
        let store = try CheckpointStore(
            directory: options.runDirectory, access: .write, create: mayCreate, logger: options.logger)
        defer { store.close() }
        let session = TrainingSession(options: options, hooks: hooks, store: store, state: initial)
        // Runs before the store closes: no background save may outlive it.
        defer { session.waitForSaves() }
        do {
            try session.prepare()
        } catch {
            // A run this call created and could not start leaves nothing behind.
            if !runExisted { store.discardUnusedRun(removingDirectory: !directoryExisted) }
            throw error
        }
        if let result = session.finishedResult { return result }
        return try session.train()
    }
}
