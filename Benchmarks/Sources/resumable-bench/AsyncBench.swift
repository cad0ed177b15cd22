#if canImport(Glibc)
import Glibc
#endif
import Resumable

/// Asynchronous save: how long `AsyncCheckpointWriter.save` blocks a training
/// loop, against a synchronous commit of the same state in the same process.
///
/// The state lives in a `TensorArena`, so a save write-protects it and
/// returns; the background thread copies it while training goes on, and a
/// write that reaches memory not yet copied pauses while its 2 MiB piece is
/// copied. Training here is `StepProxy`: one token's forward and backward
/// pass (reads every weight three times), then an Adam step (rewrites the
/// whole state). The time training is blocked by a save is the `save` call
/// plus every pause of a write during the steps that follow, until the save
/// is committed (`TensorArena.faultStatistics`). Also measured:
/// - the worst case: the optimizer rewrites the whole state the moment `save`
///   returns (no forward/backward pass to hide the copy behind);
/// - the steps' slowdown: how much longer the steps run while the background
///   save runs (pauses, and the cores and memory the save uses), against
///   steps without a save, alternated in the same loop;
/// - a state not in an arena, which `save` copies before returning.
///
/// Before each save the process sleeps 2.5 s, as training would between
/// saves: long enough for this machine to hand idle memory back to its host,
/// which a writer that allocated its buffers per save would pay for.
enum AsyncBench {
    static func run(_ options: Options) throws {
        let state = try TrainingState(layout: options.layout, inArena: true)
        let run = Files.join(options.directory, "async")
        try Measurement.clear(run)
        let store = try CheckpointStore(directory: run, access: .write, create: true)
        let writer = AsyncCheckpointWriter(store: store)
        let sources = state.sources
        let label = options.layout.label

        // Warm-up: the first save also allocates the snapshot buffer. The
        // optimizer rewrites the state at once; the checkpoint must hold the
        // state as it was at `save`.
        var before = Measurement.status("VmRSS")
        Measurement.resetPeak()
        let first = try Measurement.time { try writer.save(step: 0, tensors: sources) }
        state.optimizerStep()
        let bufferBytes = Measurement.status("VmHWM") - before
        guard let warm = try writer.flush() else { throw BenchFailure("the first asynchronous save committed nothing") }
        let file = try warm.tensors()
        for t in state.tensors where !(try StateContents.matches(file.bytes(of: t.name), tensor: t.index)) {
            throw BenchFailure("asynchronous save: tensor \(t.name) does not hold the state as it was at save")
        }
        guard try store.verify(warm).isIntact else { throw BenchFailure("asynchronous save: checksums do not match") }

        // Steps without a save, to compare with.
        var plain: [Double] = []
        func step() -> Double {
            Measurement.time {
                _ = state.forwardBackward()
                state.optimizerStep()
            }
        }
        for _ in 0..<3 { plain.append(step()) }

        var blocked: [Double] = [], calls: [Double] = [], pauses: [Double] = [], slowdown: [Double] = []
        var background: [Double] = []
        var worst: [Double] = []
        var stepNumber: Int64 = 0
        var peak = 0
        for _ in 0..<options.reps {
            // A save at the start of a step, as a loop saving every N steps does.
            try prepare(store, &stepNumber, idleMilliseconds: options.idleMilliseconds)
            before = Measurement.status("VmRSS")
            Measurement.resetPeak()
            let pausesBefore = TensorArena.faultStatistics.seconds
            let start = Measurement.now()
            try writer.save(step: stepNumber, tensors: sources)
            let call = Measurement.now() - start
            var steps = 0
            var stepTime = call
            repeat {
                stepTime += step()
                steps += 1
            } while writer.isSaving
            try writer.flush()
            background.append(Measurement.now() - start)
            let paused = TensorArena.faultStatistics.seconds - pausesBefore
            calls.append(call)
            pauses.append(paused)
            blocked.append(call + paused)
            slowdown.append(stepTime - Double(steps) * Measurement.median(plain))
            peak = max(peak, Measurement.status("VmHWM") - before)
            plain.append(step())  // keeps the baseline from the same stretch of the run

            // The worst case: the optimizer rewrites everything at once.
            try prepare(store, &stepNumber, idleMilliseconds: options.idleMilliseconds)
            let worstBefore = TensorArena.faultStatistics.seconds
            let worstCall = try Measurement.time { try writer.save(step: stepNumber, tensors: sources) }
            state.optimizerStep()
            worst.append(worstCall + TensorArena.faultStatistics.seconds - worstBefore)
            try writer.flush()
        }

        var sync: [Double] = []
        for _ in 0..<options.reps {
            try store.delete(step: stepNumber)
            Measurement.syncAll()
            stepNumber += 1
            sync.append(try Measurement.time { try store.commit(step: stepNumber) { draft in try draft.writeTensors(sources) } })
        }
        // A writer whose buffers were prepared ahead (`prepareBuffers`, e.g.
        // while the model is set up): its first save only protects the arena.
        try store.delete(step: stepNumber)
        let prepared = AsyncCheckpointWriter(store: store)
        prepared.prepareBuffers(for: sources)
        try prepared.flush()
        stepNumber += 1
        let firstPrepared = try Measurement.time { try prepared.save(step: stepNumber, tensors: sources) }
        try prepared.flush()
        prepared.releaseBuffers()
        let copied = try copyingSave(options, store: store, step: &stepNumber)

        Result(method: "resumable-async", phase: "async-first-block", state: label, bytes: state.bytes, seconds: [first],
               peakExtraBytes: bufferBytes, note: "allocates the snapshot buffer").emit()
        Result(method: "resumable-async", phase: "async-first-block-prepared", state: label, bytes: state.bytes,
               seconds: [firstPrepared], note: "buffers made by prepareBuffers beforehand").emit()
        Result(method: "resumable-async", phase: "async-block", state: label, bytes: state.bytes, seconds: blocked,
               peakExtraBytes: max(bufferBytes, peak), note: "save call + write pauses, one-token steps").emit()
        Result(method: "resumable-async", phase: "async-call", state: label, bytes: state.bytes, seconds: calls).emit()
        Result(method: "resumable-async", phase: "async-pauses", state: label, bytes: state.bytes, seconds: pauses).emit()
        Result(method: "resumable-async", phase: "async-block-worst", state: label, bytes: state.bytes, seconds: worst,
               note: "optimizer rewrites the state as save returns").emit()
        Result(method: "resumable-async", phase: "async-step-slowdown", state: label, bytes: state.bytes, seconds: slowdown,
               note: "extra step time until committed").emit()
        Result(method: "resumable-async", phase: "train-step", state: label, bytes: state.bytes, seconds: plain).emit()
        Result(method: "resumable-async", phase: "async-background", state: label, bytes: state.bytes, seconds: background).emit()
        Result(method: "resumable-async", phase: "async-block-copy", state: label, bytes: state.bytes, seconds: copied,
               note: "state not in an arena: copied before save returns").emit()
        Result(method: "resumable-async", phase: "sync-save", state: label, bytes: state.bytes, seconds: sync).emit()
    }

    /// Deletes the last checkpoint, lets memory go idle, and moves to the next step.
    private static func prepare(_ store: CheckpointStore, _ step: inout Int64, idleMilliseconds: Int) throws {
        try store.delete(step: step)
        Measurement.syncAll()
        usleep(UInt32(idleMilliseconds) * 1000)
        step += 1
    }

    /// The same saves from a state held outside an arena: `save` copies it
    /// into the snapshot buffer (on every core) before it returns.
    private static func copyingSave(_ options: Options, store: CheckpointStore, step: inout Int64) throws -> [Double] {
        let state = try TrainingState(layout: options.layout)
        let writer = AsyncCheckpointWriter(store: store)
        writer.prepareBuffers(for: state.sources)
        try writer.flush()
        var blocked: [Double] = []
        for _ in 0..<options.reps {
            try prepare(store, &step, idleMilliseconds: options.idleMilliseconds)
            blocked.append(try Measurement.time { try writer.save(step: step, tensors: state.sources) })
            state.optimizerStep()
            try writer.flush()
        }
        return blocked
    }
}
