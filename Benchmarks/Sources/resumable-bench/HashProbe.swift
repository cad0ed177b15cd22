import Resumable

/// Where the time of a checksummed write goes: the writer on a memory file system.
enum HashProbe {
    static func run(_ options: Options) throws {
        let state = try TrainingState(layout: options.layout)
        for hashing in [false, true, false, true] {
            let path = "/dev/shm/resumable-probe"
            try Measurement.clear(path)
            let t = try Measurement.time {
                try SafeTensorsWriter.write(state.sources, to: path, checksums: hashing)
            }
            report("hashing=\(hashing): \(t) s")
        }
        try Measurement.clear("/dev/shm/resumable-probe")
    }
}
