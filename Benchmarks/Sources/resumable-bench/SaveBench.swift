import Resumable

/// Durable save: a full checkpoint commit through `CheckpointStore` (file
/// fsynced, manifest, staging directory, rename, `checkpoints/` fsynced).
enum SaveBench {
    /// The run directory the save phase leaves behind for the load phases.
    static func runDirectory(_ options: Options) -> String { Files.join(options.directory, "ours") }

    static func run(_ options: Options, checksums: Bool) throws {
        let state = try TrainingState(layout: options.layout)
        let sources = state.sources
        let run = runDirectory(options)
        func commit(_ store: CheckpointStore) throws {
            if checksums {
                try store.commit(step: 1) { draft in try draft.writeTensors(sources) }
            } else {
                // The same commit, the tensors laid out in the same files (shards,
                // index) as `writeTensors` lays them out, written without hashing.
                let draft = try store.beginCheckpoint(step: 1)
                let name = "model.safetensors"
                let plan = try ShardLayout.plan(sources, named: name, policy: .automatic)
                try SafeTensorsWriter.write(
                    files: plan.files.map {
                        SafeTensorsWriter.FileSpec(path: Files.join(draft.stagingDirectory, $0.name), tensors: $0.tensors)
                    },
                    checksums: false)
                if let index = plan.index { try draft.writeJSON(named: ShardLayout.indexName(of: name), index.json) }
                try store.commit(draft)
            }
        }
        // Warm-up, then check that what was written is the state.
        try Measurement.clear(run)
        try commit(try CheckpointStore(directory: run, access: .write, create: true))
        try verify(run: run, state: state, checksums: checksums)
        var seconds: [Double] = []
        var peak = 0
        for _ in 0..<options.reps {
            try Measurement.clear(run)
            let before = Measurement.status("VmRSS")
            Measurement.resetPeak()
            // The store is opened outside the timed region: it is opened once per training run.
            let store = try CheckpointStore(directory: run, access: .write, create: true)
            let c0 = Measurement.cpu()
            let t = try Measurement.time { try commit(store) }
            let c1 = Measurement.cpu()
            Measurement.reportCPU("save", seconds: t, from: c0, to: c1)
            store.close()
            peak = max(peak, Measurement.status("VmHWM") - before)
            seconds.append(t)
        }
        Result(
            method: checksums ? "resumable" : "resumable-nohash", phase: "save", state: options.layout.label,
            bytes: state.bytes, seconds: seconds, peakExtraBytes: peak
        ).emit()
    }

    /// Checks a saved run against the state: every tensor's bytes, and (with
    /// checksums) the manifest's digests.
    static func verify(run: String, state: TrainingState, checksums: Bool) throws {
        let store = try CheckpointStore(directory: run, access: .read)
        guard let checkpoint = try store.latest()?.checkpoint else { throw BenchFailure("no checkpoint in \(run)") }
        if checksums {
            let report = try store.verify(checkpoint)
            guard report.isIntact else { throw BenchFailure("verification failed: \(report.summary)") }
        }
        let file = try checkpoint.tensors()
        for t in state.tensors {
            guard try StateContents.matches(file.bytes(of: t.name), tensor: t.index) else {
                throw BenchFailure("tensor \(t.name) in \(run) does not hold the state")
            }
        }
    }
}
