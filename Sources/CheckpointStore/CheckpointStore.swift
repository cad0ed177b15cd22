#if canImport(Glibc)
import Glibc
#endif
import DurableFiles
import JSON
public import Logging
import Synchronization

/// A run on the local file system: its identity, its committed checkpoints,
/// and the one-writer lock.
///
/// Open a store with `.read` to list, resolve, load and verify; with
/// `.write` to commit, prune and edit. Opening for writing takes the run's
/// lock and cleans `checkpoints/.staging/` and `checkpoints/.trash/` of what a
/// crashed writer left behind. Readers never see a partial checkpoint: a
/// checkpoint exists only once its directory has been renamed into place with
/// its manifest inside.
///
/// A store may be shared between threads (an ``AsyncCheckpointWriter``
/// commits on its own thread while the caller may set ``retention``): its
/// mutable state (``run``, ``retention``, ``protectedSteps``) lives in a
/// `Mutex`, everything else is set once by `init`.
public final class CheckpointStore: Sendable {
    /// How a store is opened.
    public enum Access: Sendable {
        /// List, resolve, load, verify. No lock is taken.
        case read
        /// Everything reading does, plus commit, prune, edit. Takes the run's lock.
        case write
    }

    /// The run directory.
    public let directory: String
    /// `directory/checkpoints`.
    public let checkpointsDirectory: String
    /// The run's identity.
    public var run: RunInfo { state.withLock { $0.run } }
    /// Where progress and notices go.
    public let logger: Logger
    /// How the store was opened.
    public let access: Access
    /// The run's journal.
    public let events: EventJournal
    /// Retention applied after every commit; `nil` keeps everything.
    /// Safe to set from any thread; a commit in flight uses the value it read
    /// when it began pruning.
    public var retention: RetentionPolicy? {
        get { state.withLock { $0.retention } }
        set { state.withLock { $0.retention = newValue } }
    }
    /// Steps that retention must never delete (the checkpoint a run resumed from).
    /// Safe to set from any thread.
    public var protectedSteps: Set<Int64> {
        get { state.withLock { $0.protectedSteps } }
        set { state.withLock { $0.protectedSteps = newValue } }
    }
    /// What changes after `init`: read and written under the lock, never per block.
    private struct State {
        var run: RunInfo
        var retention: RetentionPolicy?
        var protectedSteps: Set<Int64> = []
    }
    private let state: Mutex<State>
    /// Retention and the protected steps read together, so a commit prunes
    /// by one consistent pair of them.
    var retentionSettings: (policy: RetentionPolicy?, protected: Set<Int64>) {
        state.withLock { ($0.retention, $0.protectedSteps) }
    }
    private let lock: RunLock?

    var stagingDirectory: String { FilePath.join(checkpointsDirectory, ".staging") }
    var trashDirectory: String { FilePath.join(checkpointsDirectory, ".trash") }
    var runFile: String { FilePath.join(directory, "run.json") }

    /// Opens the run at `directory`.
    /// - Parameters:
    ///   - access: `.write` takes the lock and cleans leftovers of crashed writers.
    ///   - create: create the run (directory and `run.json`) when it does not exist.
    ///     Only with `.write`.
    ///   - logger: receives notices (lock take-over, cleaned leftovers, fallbacks).
    /// - Throws: `.notFound` when there is no run and `create` is false;
    ///   `.locked` when another live process writes to the run; `.corrupt` for a damaged `run.json`.
    public init(
        directory: String, access: Access = .read, create: Bool = false,
        logger: Logger = Logger(label: "resumable.store")
    ) throws {
        self.directory = directory
        self.checkpointsDirectory = FilePath.join(directory, "checkpoints")
        self.logger = logger
        self.access = access
        self.events = EventJournal(runDirectory: directory)
        let runFile = FilePath.join(directory, "run.json")
        try Self.checkLayout(of: directory)
        let exists = FileSystem.exists(runFile)
        if !exists && !(create && access == .write) {
            if FileSystem.isDirectory(FilePath.join(directory, "checkpoints")) {
                // A run whose run.json was lost still has readable checkpoints.
                state = Mutex(State(run: RunInfo(id: "", name: FilePath.lastComponent(of: directory))))
                lock = access == .write ? try RunLock.acquire(directory: directory, logger: logger) : nil
                logger.warning("\(runFile) is missing; the run's identity is unknown.")
                return
            }
            throw ResumableError(
                .notFound,
                "no run at \(directory) (there is no run.json). Check the path, or start the job to create it.",
                path: directory)
        }
        if access == .write {
            try FileSystem.createDirectory(directory)
            lock = try RunLock.acquire(directory: directory, logger: logger)
        } else {
            lock = nil
        }
        let run: RunInfo
        if exists {
            run = try RunInfo.read(from: runFile)
        } else {
            run = RunInfo(id: RunInfo.newID(), name: FilePath.lastComponent(of: FilePath.absolute(directory)))
            try FileSystem.createOwnedDirectory(checkpointsDirectory)
            try FileSystem.writeAtomically(try run.encodedForWriting(), to: runFile)
        }
        state = Mutex(State(run: run))
        if access == .write {
            try FileSystem.createOwnedDirectory(checkpointsDirectory)
            try cleanLeftovers()
        }
    }

    /// Refuses a run in which a file or directory Resumable keeps was
    /// replaced by a symbolic link, a FIFO or anything else of the wrong
    /// kind: nothing Resumable reads, writes or deletes inside a run is
    /// reached through a link. The run directory itself may be a link.
    /// - Throws: `.corrupt` naming the entry.
    static func checkLayout(of directory: String) throws {
        let checkpoints = FilePath.join(directory, "checkpoints")
        for name in ["run.json", "events.jsonl", ".lock"] {
            try FileSystem.requireMissingOr(.regular, FilePath.join(directory, name))
        }
        for path in [checkpoints, FilePath.join(checkpoints, ".staging"), FilePath.join(checkpoints, ".trash")] {
            try FileSystem.requireMissingOr(.directory, path)
        }
    }

    /// Removes a run that was created by this store and never got a
    /// checkpoint (a start that failed): its `run.json`, journal, empty
    /// `checkpoints/` and lock, and, with `removingDirectory`, the run
    /// directory when that leaves it empty. A run with any step directory is
    /// left as it is. Releases the lock.
    package func discardUnusedRun(removingDirectory: Bool) {
        guard access == .write, (try? committedSteps().isEmpty) == true else { return }
        for name in ["run.json", "events.jsonl"] { try? FileSystem.removeTree(FilePath.join(directory, name)) }
        for path in [stagingDirectory, trashDirectory, checkpointsDirectory] { _ = rmdir(path) }
        try? FileSystem.removeTree(FilePath.join(directory, ".lock"))
        close()
        if removingDirectory { _ = rmdir(directory) }
    }

    /// The lock's token, which a supervised child presents in `RESUMABLE_LOCK_TOKEN`.
    public var lockToken: String? { lock?.token }

    /// Records in the lock file the process group of the job a supervisor
    /// runs now (`nil`: none), so whoever takes the run over after the
    /// supervisor died finds it. Returns whether it was written.
    @discardableResult
    public func recordJob(processGroup: Int32?) -> Bool { lock?.recordJob(processGroup: processGroup) ?? false }

    /// Releases the lock early (it is released when the store is freed anyway).
    public func close() { lock?.release() }

    /// Removes what crashed writers left in `.staging/` and `.trash/`.
    func cleanLeftovers() throws {
        for dir in [stagingDirectory, trashDirectory] {
            let removed = try FileSystem.emptyDirectory(dir)
            if removed > 0 {
                logger.info("Removed \(removed) unfinished item(s) left in \(dir) by an interrupted writer.")
            }
        }
    }

    func requireWrite(_ what: String) throws {
        guard access == .write else {
            throw ResumableError(.usage, "cannot \(what): the run \(directory) was opened read-only.", path: directory)
        }
    }

    /// Updates and durably rewrites `run.json`. Updates from two threads
    /// are applied one after the other (the lock is held while the file is
    /// written; `change` must not use the store).
    public func updateRun(_ change: (inout RunInfo) -> Void) throws {
        try requireWrite("update run.json")
        let runFile = self.runFile
        try state.withLock { state in
            var updated = state.run
            change(&updated)
            try FileSystem.writeAtomically(try updated.encodedForWriting(), to: runFile)
            state.run = updated
        }
    }

    // MARK: Listing

    /// Steps of the committed checkpoint directories, ascending, read from
    /// directory names only (no manifest is opened).
    public func committedSteps() throws -> [Int64] {
        try FileSystem.requireMissingOr(.directory, checkpointsDirectory)
        guard FileSystem.isDirectory(checkpointsDirectory) else { return [] }
        var steps: [Int64] = []
        for name in try FileSystem.contents(of: checkpointsDirectory) {
            if let s = Checkpoint.step(fromDirectoryName: name) { steps.append(s) }
        }
        return steps.sorted()
    }

    /// The directory of a step.
    public func directory(of step: Int64) -> String {
        FilePath.join(checkpointsDirectory, Checkpoint.directoryName(step: step))
    }

    /// Reads the checkpoint at `step`.
    /// - Throws: `.notFound` when the step has no checkpoint; `.corrupt` when its manifest is damaged.
    public func checkpoint(step: Int64) throws -> Checkpoint {
        let dir = directory(of: step)
        let manifestPath = FilePath.join(dir, "manifest.json")
        let type = FileSystem.entryType(dir)
        if type != .directory && type != .missing {
            throw FileSystem.misplacedEntry(dir, found: type, expected: .directory)
        }
        guard type == .directory else {
            throw ResumableError(
                .notFound, "the run \(directory) has no checkpoint at step \(step). `resumable ls \(directory)` lists them.",
                path: dir)
        }
        guard FileSystem.exists(manifestPath) else {
            throw ResumableError(.corrupt, "\(dir) has no manifest.json, so it was never committed or was damaged.", path: manifestPath)
        }
        let manifest = try Manifest.read(from: manifestPath)
        guard manifest.step == step else {
            throw ResumableError(
                .corrupt, "\(manifestPath) records step \(manifest.step) but lives in the directory of step \(step).",
                path: manifestPath)
        }
        return Checkpoint(directory: dir, manifest: manifest)
    }

    /// Every checkpoint, manifests read, ordered by step; damaged ones apart.
    public func scan() throws -> CheckpointScan {
        var good: [Checkpoint] = []
        var damaged: [DamagedCheckpoint] = []
        for step in try committedSteps() {
            do {
                good.append(try checkpoint(step: step))
            } catch let error as ResumableError where error.code != .io {
                damaged.append(DamagedCheckpoint(step: step, directory: directory(of: step), reason: error.message, code: error.code))
            }
        }
        return CheckpointScan(checkpoints: good, damaged: damaged)
    }

    /// Every readable checkpoint, ordered by step.
    public func checkpoints() throws -> [Checkpoint] { try scan().checkpoints }
}
