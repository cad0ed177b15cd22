import CSystemShims
import DurableFiles
public import SafeTensors
import Dispatch
import Synchronization

/// Saves checkpoints in the background, so training is blocked only while
/// the state is snapshotted.
///
/// `save(step:tensors:files:configure:)` snapshots the tensors into a reused
/// ``SnapshotBuffer`` and returns; a background thread then writes them and
/// commits the checkpoint by the same protocol as ``CheckpointStore/commit(_:)``
/// (files fsynced, manifest last, atomic rename, directory fsynced). Once
/// `save` returns, the caller may change its tensors at once: the checkpoint
/// holds the values they had during the call.
///
/// **Tensors in a ``TensorArena``** are snapshotted copy-on-write: `save`
/// write-protects them and returns in well under a millisecond, whatever
/// their size; the background thread copies them, and a write that reaches a
/// 2 MiB piece not yet copied pauses while that piece is copied. Other
/// tensors are copied before `save` returns (on every core). With
/// `copyOnWrite: false` (or `RESUMABLE_COPY_ON_WRITE=0` in the environment)
/// arena tensors are copied before `save` returns too: no write protection,
/// no SIGSEGV handler, for programs whose runtime wants SIGSEGV to itself.
///
/// **The background write yields to training** by default (``Priority/low``:
/// nice +10 on Linux for the write and the threads it starts), so a training
/// loop keeps its cores: the save takes longer to commit, training slows
/// less while it runs.
///
/// **At most one save is in flight.** When the next save comes while one is
/// still being written, the policy decides (``WhenBusy``): `.wait` (the
/// default) blocks until the previous checkpoint is committed, then snapshots;
/// `.skip` returns `false` at once and saves nothing, for loops that would
/// rather train on and save at a later step.
///
/// **Errors surface on the next call.** A background save that fails leaves
/// no checkpoint (earlier ones are intact) and its error is thrown by the
/// next `save` or `flush()`, which then does nothing else. Call `flush()`
/// before the process exits, and before reading the run expecting the newest
/// checkpoint.
///
/// **Memory.** The writer keeps one buffer the size of the state for its
/// lifetime (the price of not blocking); `releaseBuffers()` frees it.
///
/// While a save is in flight, commit to the same store only through this
/// writer. It is a programmer error to call one writer from two threads at once.
// @unchecked: its own state (`inFlight`, `failure`, `committed`) is read and
// written only under `condition`; `buffer` (not Sendable) is used by one
// thread at a time, which `inFlight` guarantees (a background job holds it
// from `inFlight = true` until it sets it back); the rest is `let` and Sendable.
public final class AsyncCheckpointWriter: @unchecked Sendable {
    /// What `save` does when the previous save is still being written.
    public enum WhenBusy: Sendable {
        /// Block until the previous checkpoint is committed, then save.
        case wait
        /// Save nothing and return `false`.
        case skip
    }

    /// How the background write shares the processor with training.
    public enum Priority: Sendable {
        /// Below the rest of the process (nice +10 on Linux): training keeps
        /// its cores and slows less while a save is written; the save takes
        /// longer to commit. The copy of a snapshot still runs at normal
        /// priority, so writes to the state pause as briefly as they can.
        case low
        /// The same as the rest of the process.
        case normal
    }

    /// The store checkpoints are committed to (opened for writing).
    public let store: CheckpointStore
    /// The policy for a save that comes while one is in flight.
    public let whenBusy: WhenBusy
    /// The priority of the background write.
    public let priority: Priority
    /// Whether tensors in a ``TensorArena`` are snapshotted copy-on-write
    /// (`false`: copied before `save` returns).
    public let copyOnWrite: Bool
    private let buffer = SnapshotBuffer()
    /// Runs `beforeBackgroundWrite` and the copy of copy-on-write snapshots.
    private let queue = DispatchQueue(label: "resumable.async-checkpoint-writer")
    /// Writes and commits, at `priority`; the threads it starts for a write
    /// (hashing, I/O) inherit that. `nil` when no thread could be started:
    /// `queue` writes then.
    private let writeThread: WorkerThread?
    private let condition = Condition()
    private var inFlight = false
    private var failure: (any Error)?
    private var committed: Checkpoint?
    private let hooks = Mutex<(write: (@Sendable (Int64) -> Void)?, commit: (@Sendable (Int64) -> Void)?)>((nil, nil))
    /// Runs on the background thread before the tensors are written (tests hold saves in flight with it).
    var beforeBackgroundWrite: (@Sendable (Int64) -> Void)? {
        get { hooks.withLock { $0.write } }
        set { hooks.withLock { $0.write = newValue } }
    }
    /// Runs on the write thread before the commit (tests check its priority with it).
    var beforeBackgroundCommit: (@Sendable (Int64) -> Void)? {
        get { hooks.withLock { $0.commit } }
        set { hooks.withLock { $0.commit = newValue } }
    }

    /// A writer committing to `store`, which must be opened with `.write`.
    /// - Parameter copyOnWrite: `false` copies arena tensors when `save`
    ///   snapshots them instead of write-protecting them (also off when
    ///   ``TensorArena/copyOnWriteAllowedByEnvironment`` is `false`).
    public init(store: CheckpointStore, whenBusy: WhenBusy = .wait, priority: Priority = .low, copyOnWrite: Bool = true) {
        self.store = store
        self.copyOnWrite = copyOnWrite && TensorArena.copyOnWriteAllowedByEnvironment
        self.whenBusy = whenBusy
        self.priority = priority
        writeThread = WorkerThread()
        if priority == .low {
            // Best effort: where threads have no nice value of their own, the write runs at normal priority.
            writeThread?.async { _ = resumable_lower_thread_priority(10) }
        }
    }

    deinit {
        // Never lose a save that was accepted: wait for it.
        condition.lock()
        while inFlight { condition.wait() }
        condition.unlock()
        writeThread?.finish()
    }

    /// Whether a save is being written now.
    public var isSaving: Bool {
        condition.lock()
        defer { condition.unlock() }
        return inFlight
    }

    /// Snapshots `tensors` and commits them at `step` in the background.
    ///
    /// Blocks while the tensors are snapshotted (and, with `.wait`, while a
    /// previous save finishes). `configure` runs before the call returns: set
    /// the draft's epoch, metrics, tags and metadata there. `files` (small
    /// files such as `state.json`) are written in the background with the tensors.
    /// - Parameters:
    ///   - step: the checkpoint's step; it must not be committed yet.
    ///   - tensors: read only during the call.
    ///   - metadata: the safetensors header's string map.
    ///   - name: the tensor file's name.
    ///   - files: further files of the checkpoint, name → bytes.
    /// - Returns: `true` when the save was started, `false` when `.skip` skipped it.
    /// - Throws: the error of the previous background save, if it failed (nothing
    ///   else is done then); `.usage` for a tensor whose bytes do not match its
    ///   shape; `.conflict` when `step` is committed; errors of creating the draft.
    @discardableResult
    public func save(
        step: Int64, tensors: [TensorSource], metadata: [String: String] = [:],
        named name: String = "model.safetensors", files: [(name: String, bytes: [UInt8])] = [],
        configure: (CheckpointDraft) throws -> Void = { _ in }
    ) throws -> Bool {
        try save(
            step: step, tensorFiles: [(name: name, tensors: tensors, metadata: metadata)], files: files,
            configure: configure)
    }

    /// Snapshots several tensor files' tensors (a model and its optimizer
    /// state, say) into the one reused buffer and commits them at `step` in
    /// the background, with the same policy, guarantees and errors as
    /// ``save(step:tensors:metadata:named:files:configure:)``.
    ///
    /// The background thread writes the tensor files in the order given, then
    /// `files`; files that `configure` writes itself come before them in the
    /// manifest.
    /// - Parameters:
    ///   - step: the checkpoint's step; it must not be committed yet.
    ///   - tensorFiles: each safetensors file's name, tensors (read only during
    ///     the call) and header string map.
    ///   - files: further files of the checkpoint, name → bytes.
    /// - Returns: `true` when the save was started, `false` when `.skip` skipped it.
    @discardableResult
    public func save(
        step: Int64, tensorFiles: [(name: String, tensors: [TensorSource], metadata: [String: String])],
        files: [(name: String, bytes: [UInt8])] = [], configure: (CheckpointDraft) throws -> Void = { _ in }
    ) throws -> Bool {
        condition.lock()
        if inFlight && whenBusy == .skip {
            condition.unlock()
            return false
        }
        while inFlight { condition.wait() }
        if let error = failure {
            failure = nil
            condition.unlock()
            throw error
        }
        condition.unlock()

        let draft = try store.beginCheckpoint(step: step)
        var groups: [(name: String, tensors: [TensorSource], metadata: [String: String])] = []
        let taken: SnapshotBuffer.Snapshot
        do {
            try configure(draft)
            // One snapshot of every file's tensors, split back by file.
            taken = try buffer.snapshot(tensorFiles.flatMap(\.tensors), copyOnWrite: copyOnWrite)
            var copies = taken.tensors[...]
            for file in tensorFiles {
                groups.append((file.name, Array(copies.prefix(file.tensors.count)), file.metadata))
                copies = copies.dropFirst(file.tensors.count)
            }
        } catch {
            store.abandon(draft)
            throw error
        }
        condition.lock()
        inFlight = true
        condition.unlock()
        let (hook, commitHook) = hooks.withLock { ($0.write, $0.commit) }
        let snapshot = groups
        // The one crossing of the draft: filled here, then used only by the
        // background job (this thread no longer touches it).
        let handedOver = Transfer(draft)
        queue.async { [self] in
            let draft = handedOver.value
            hook?(step)
            do {
                try taken.complete()
            } catch {
                finish(draft, .failure(error))
                return
            }
            let write = { @Sendable [self] in
                let draft = handedOver.value
                do {
                    for group in snapshot {
                        try draft.writeTensors(group.tensors, metadata: group.metadata, named: group.name)
                    }
                    for file in files { try draft.writeFile(named: file.name, bytes: file.bytes) }
                    commitHook?(step)
                    finish(draft, .success(try store.commit(draft).checkpoint))
                } catch {
                    finish(draft, .failure(error))
                }
            }
            if let writeThread { writeThread.async(write) } else { write() }
        }
        return true
    }

    /// Records the outcome of the save in flight and ends it.
    private func finish(_ draft: CheckpointDraft, _ outcome: Result<Checkpoint, any Error>) {
        if case .failure = outcome { store.abandon(draft) }
        condition.lock()
        switch outcome {
        case .success(let checkpoint): committed = checkpoint
        case .failure(let error): failure = error
        }
        inFlight = false
        condition.broadcast()
        condition.unlock()
    }

    /// Waits until no save is in flight.
    /// - Returns: the last checkpoint this writer committed, or `nil`.
    /// - Throws: the error of the last background save, if it failed (once).
    @discardableResult
    public func flush() throws -> Checkpoint? {
        condition.lock()
        defer { condition.unlock() }
        while inFlight { condition.wait() }
        if let error = failure {
            failure = nil
            throw error
        }
        return committed
    }

    /// Allocates and faults in the snapshot buffer for `tensors` in the
    /// background, so the first `save` only copies. Call it once, early (while
    /// the model is set up); a `save` that comes before it is done waits for it.
    public func prepareBuffers(for tensors: [TensorSource]) {
        let bytes = SnapshotBuffer.size(of: tensors)
        condition.lock()
        while inFlight { condition.wait() }
        inFlight = true
        condition.unlock()
        queue.async { [self] in
            buffer.reserve(bytes, touch: true)
            condition.lock()
            inFlight = false
            condition.broadcast()
            condition.unlock()
        }
    }

    /// Frees the snapshot buffer after waiting for the save in flight (the
    /// next save allocates it again).
    public func releaseBuffers() {
        condition.lock()
        while inFlight { condition.wait() }
        buffer.release()
        condition.unlock()
    }
}

/// Carries a value that is not `Sendable` from one thread to another when
/// ownership moves with it: the sender no longer uses it after handing it
/// over. Used only where that holds, with a comment at each use.
struct Transfer<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
