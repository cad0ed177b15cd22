import Resumable

/// Reading a checkpoint back, cold or warm page cache:
/// - `open`: resolve the latest checkpoint, read its manifest, map the tensor
///   file and validate its header (lazy: no tensor byte is read);
/// - `load`: open, then every tensor as a `[Float]` (`--method copy`), or
///   the zero-copy views (`--method mmap`, nothing is read yet);
/// - `touch`: load, then read one byte per 4 KiB page of every tensor, so a
///   lazy loader pays for its reads.
enum LoadBench {
    static func run(_ options: Options) throws {
        let layout = options.layout
        let run = SaveBench.runDirectory(options)
        let cold = options.phase == "cold"
        let copy = options.method == "copy"
        guard options.phase == "cold" || options.phase == "warm" else { throw BenchFailure("--phase cold|warm") }
        // Every file of the checkpoint (the shards and their index too), for dropping their cached pages.
        let checkpointFiles = try CheckpointStore(directory: run).latest().map { r in
            r.checkpoint.manifest.files.map { r.checkpoint.path(of: $0.name) } } ?? []

        /// One timed operation; returns what must stay alive until the clock stops.
        func operation() throws -> (SafeTensorsShards, [[Float]], UInt64) {
            let store = try CheckpointStore(directory: run)
            guard let checkpoint = try store.latest()?.checkpoint else { throw BenchFailure("no checkpoint in \(run)") }
            let file = try checkpoint.tensors()
            var arrays: [[Float]] = []
            var sum: UInt64 = 0
            if options.command != "open" {
                if copy {
                    arrays.reserveCapacity(file.tensors.count)
                    for t in file.tensors { arrays.append(try file.array(t.name, as: Float.self)) }
                }
                if options.command == "touch" {
                    if copy {
                        for a in arrays { a.withUnsafeBytes { sum &+= Measurement.touch($0) } }
                    } else {
                        for t in file.tensors { sum &+= Measurement.touch(try file.bytes(of: t.name)) }
                    }
                }
            }
            return (file, arrays, sum)
        }

        // Warm-up: load everything and check it is the state.
        do {
            let (file, _, _) = try operation()
            guard file.tensors.count == layout.tensors.count else { throw BenchFailure("\(run) holds \(file.tensors.count) tensors") }
            for (i, t) in layout.tensors.enumerated() {
                guard try StateContents.matches(file.bytes(of: t.name), tensor: i) else {
                    throw BenchFailure("tensor \(t.name) in \(run) does not hold the state")
                }
            }
        }
        var seconds: [Double] = []
        var peak = 0
        var how = "warm"
        for _ in 0..<options.reps {
            if cold { how = "cold (\(Measurement.dropCaches(files: checkpointFiles)))" }
            let before = Measurement.status("VmRSS")
            Measurement.resetPeak()
            var kept: (SafeTensorsShards, [[Float]], UInt64)?
            let t = try Measurement.time { kept = try operation() }
            peak = max(peak, Measurement.status("VmHWM") - before)
            if kept?.2 == 1 { print("") }  // keeps the touched sum alive
            kept = nil
            seconds.append(t)
        }
        let method = options.command == "open" ? "resumable" : "resumable-\(options.method)"
        Result(
            method: method, phase: "\(options.command)-\(options.phase)", state: layout.label,
            bytes: layout.bytes, seconds: seconds, peakExtraBytes: peak, note: how
        ).emit()
    }
}
