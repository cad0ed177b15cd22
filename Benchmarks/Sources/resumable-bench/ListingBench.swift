#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Resumable

/// `ls`, `latest` and `status` on a run with many tiny checkpoints.
///
/// The run is made quickly: one checkpoint is committed by the store, the
/// others are copies of it with their own manifest (same layout as a commit,
/// without an fsync per checkpoint). Each is then listed by the library
/// calls the CLI uses; compare.sh also times the `resumable` binary.
enum ListingBench {
    static func runDirectory(_ options: Options) -> String { Files.join(options.directory, "ls\(options.count)") }

    static func makeRun(_ options: Options) throws -> String {
        let run = runDirectory(options)
        if let store = try? CheckpointStore(directory: run), (try? store.committedSteps().count) == options.count {
            return run
        }
        try Measurement.clear(run)
        let store = try CheckpointStore(directory: run, access: .write, create: true)
        let values: [Float] = (0..<64).map { Float($0) }
        let first = try store.commit(step: 0) { draft in
            draft.metrics = ["loss": 1]
            try draft.writeTensors([TensorSource(name: "w", dtype: .f32, shape: [64], values: values)])
        }.checkpoint
        let model = first.path(of: "model.safetensors")
        for step in 1..<Int64(options.count) {
            let dir = store.directory(of: step)
            try Files.createDirectory(dir)
            guard link(model, Files.join(dir, "model.safetensors")) == 0 else {
                throw BenchFailure("cannot link \(model): errno \(errno)")
            }
            var manifest = first.manifest
            manifest.step = step
            manifest.epoch = step / 100
            manifest.metrics = ["loss": 1 / Double(step + 1)]
            try writeQuickly(manifest.encoded, to: Files.join(dir, "manifest.json"))
        }
        Glibc.sync()
        return run
    }

    /// Writes a file without fsync (one `sync` follows the whole run).
    static func writeQuickly(_ bytes: [UInt8], to path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw BenchFailure("cannot create \(path): errno \(errno)") }
        defer { close(fd) }
        guard bytes.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == bytes.count else {
            throw BenchFailure("cannot write \(path): errno \(errno)")
        }
    }

    static func run(_ options: Options) throws {
        let made = Measurement.now()
        let run = try makeRun(options)
        report("listing: run of \(options.count) checkpoints ready in \(Int((Measurement.now() - made) * 1000)) ms")
        let phases: [(String, () throws -> Int)] = [
            ("ls", { try CheckpointStore(directory: run).scan().checkpoints.count }),
            ("latest", { try CheckpointStore(directory: run).latest() == nil ? 0 : 1 }),
            ("status", {
                let store = try CheckpointStore(directory: run)
                let scan = try store.scan()
                let best = CheckpointStore.best(in: scan.checkpoints, by: Monitor(metric: "loss", mode: .min))
                let events = try store.events.read()
                return scan.checkpoints.count + (best == nil ? 0 : 1) + events.count
            }),
        ]
        for (name, body) in phases {
            guard try body() > 0 else { throw BenchFailure("\(name) found nothing in \(run)") }
            var seconds: [Double] = []
            for _ in 0..<options.reps { seconds.append(try Measurement.time { _ = try body() }) }
            Result(method: "resumable-lib", phase: "\(name)-\(options.count)", state: "tiny", bytes: 0, seconds: seconds).emit()
        }
        guard let binary = options.binary, Files.exists(binary) else { return }
        // The command line, end to end (process start, listing, printing).
        let commands: [(String, [String])] = [
            ("ls", ["ls", run]), ("ls --json", ["ls", run, "--json"]),
            ("latest", ["inspect", run + "@latest", "--json"]), ("status", ["status", run]),
        ]
        for (name, arguments) in commands {
            var seconds: [Double] = []
            for _ in 0...options.reps {
                let process = Process()
                process.executableURL = URL(fileURLWithPath: binary)
                process.arguments = arguments
                process.standardOutput = FileHandle.nullDevice
                process.standardError = FileHandle.nullDevice
                let t = try Measurement.time {
                    try process.run()
                    process.waitUntilExit()
                }
                guard process.terminationStatus == 0 else {
                    throw BenchFailure("resumable \(arguments.joined(separator: " ")) exited \(process.terminationStatus)")
                }
                seconds.append(t)
            }
            seconds.removeFirst()  // the first run warms the page cache
            Result(method: "resumable-cli", phase: "\(name)-\(options.count)", state: "tiny", bytes: 0, seconds: seconds).emit()
        }
    }
}
