#if canImport(Glibc)
import Glibc
#endif
import Resumable

/// Asynchronous save: how long `AsyncCheckpointWriter.save` blocks the
/// training loop (the snapshot into its reused buffer), against a synchronous
/// commit of the same state in the same process.
///
/// Between saves the process sleeps 2.5 s, as training would: long enough for
/// this machine to hand idle memory back to its host, which a writer that
/// allocated its buffers per save would pay for.
enum AsyncBench {
    static func run(_ options: Options) throws {
        let state = TrainingState(layout: options.layout)
        let run = FilePath.join(options.directory, "async")
        try Measurement.clear(run)
        let store = try CheckpointStore(directory: run, access: .write, create: true)
        let writer = AsyncCheckpointWriter(store: store)
        let sources = state.sources

        // Warm-up: the first save also allocates the snapshot buffer.
        var before = Measurement.status("VmRSS")
        Measurement.resetPeak()
        let first = try Measurement.time { try writer.save(step: 0, tensors: sources) }
        let bufferBytes = Measurement.status("VmHWM") - before
        guard let warm = try writer.flush() else { throw BenchFailure("the first asynchronous save committed nothing") }
        let file = try warm.tensors()
        for t in state.tensors where !(try StateContents.matches(file.bytes(of: t.name), tensor: t.index)) {
            throw BenchFailure("asynchronous save: tensor \(t.name) does not hold the state")
        }
        guard try store.verify(warm).isIntact else { throw BenchFailure("asynchronous save: checksums do not match") }

        var blocked: [Double] = []
        var background: [Double] = []
        var sync: [Double] = []
        var step: Int64 = 0
        var peak = 0
        for _ in 0..<options.reps {
            try store.delete(step: step)
            Measurement.syncAll()
            usleep(UInt32(options.idleMilliseconds) * 1000)
            step += 1
            before = Measurement.status("VmRSS")
            Measurement.resetPeak()
            let start = Measurement.now()
            try writer.save(step: step, tensors: sources)
            blocked.append(Measurement.now() - start)
            state.step(Int(step))  // training goes on and changes the tensors at once
            try writer.flush()
            background.append(Measurement.now() - start)
            peak = max(peak, Measurement.status("VmHWM") - before)
        }
        for _ in 0..<options.reps {
            try store.delete(step: step)
            Measurement.syncAll()
            step += 1
            sync.append(try Measurement.time { try store.commit(step: step) { draft in try draft.writeTensors(sources) } })
        }
        // A writer whose buffers were prepared ahead (`prepareBuffers`, e.g.
        // while the model is set up): its first save only copies.
        try store.delete(step: step)
        let prepared = AsyncCheckpointWriter(store: store)
        prepared.prepareBuffers(for: sources)
        try prepared.flush()
        step += 1
        let firstPrepared = try Measurement.time { try prepared.save(step: step, tensors: sources) }
        try prepared.flush()
        let label = options.layout.label
        Result(method: "resumable-async", phase: "async-first-block", state: label, bytes: state.bytes, seconds: [first],
               peakExtraBytes: bufferBytes, note: "allocates the snapshot buffer").emit()
        Result(method: "resumable-async", phase: "async-first-block-prepared", state: label, bytes: state.bytes,
               seconds: [firstPrepared], note: "buffers made by prepareBuffers beforehand").emit()
        Result(method: "resumable-async", phase: "async-block", state: label, bytes: state.bytes, seconds: blocked,
               peakExtraBytes: max(bufferBytes, peak)).emit()
        Result(method: "resumable-async", phase: "async-background", state: label, bytes: state.bytes, seconds: background).emit()
        Result(method: "resumable-async", phase: "sync-save", state: label, bytes: state.bytes, seconds: sync).emit()
    }
}
