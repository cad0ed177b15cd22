#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Resumable

/// Resume latency of the digits example (`--binary PATH/digits`): from
/// process start to its first resumed training step (its `--trace` prints
/// `start N` once resumed and `step N` after each step), against the time it
/// takes just to read the state it resumes from (verify the latest
/// checkpoint's checksums, load every tensor, parse state.json), measured
/// in this process on the same checkpoint with a warm page cache.
enum ResumeBench {
    static func run(_ options: Options) throws {
        guard let binary = options.binary, Files.exists(binary) else {
            throw BenchFailure("resume needs --binary PATH of the digits example")
        }
        let run = Files.join(options.directory, "digits")
        try Measurement.clear(run)
        // One epoch trained and committed: the state to resume from.
        let first = try spawn(binary, ["--run-dir", run, "--epochs", "1", "--trace"])
        first.process.waitUntilExit()
        guard first.process.terminationStatus == 0 else {
            throw BenchFailure("digits --epochs 1 exited \(first.process.terminationStatus)")
        }
        var total: [Double] = []
        var started: [Double] = []
        var read: [Double] = []
        for _ in 0...options.reps {
            let t0 = Measurement.now()
            let child = try spawn(binary, ["--run-dir", run, "--epochs", "2", "--trace"])
            var startLine: Double?
            var stepLine: Double?
            var buffer = ""
            while stepLine == nil {
                let data = child.output.fileHandleForReading.availableData
                if data.isEmpty { break }
                buffer += String(decoding: data, as: UTF8.self)
                let now = Measurement.now()
                if startLine == nil, buffer.contains("start ") { startLine = now - t0 }
                if buffer.contains("\nstep ") || buffer.hasPrefix("step ") { stepLine = now - t0 }
            }
            kill(child.process.processIdentifier, SIGKILL)  // leaves the run as it was: commits are atomic
            child.process.waitUntilExit()
            guard let stepLine, let startLine else { throw BenchFailure("digits did not resume and step: \(buffer.prefix(300))") }
            let resumedStep = buffer.split(separator: "\n").first { $0.hasPrefix("start ") }.flatMap { Int64($0.dropFirst(6)) }
            guard let resumedStep, resumedStep > 0 else {
                throw BenchFailure("digits started fresh instead of resuming: \(buffer.prefix(200))")
            }
            total.append(stepLine)
            started.append(startLine)
            read.append(try Measurement.time { try readState(run) })
        }
        // The first of each was a warm-up (page cache, dynamic linker).
        total.removeFirst()
        started.removeFirst()
        read.removeFirst()
        let overhead = zip(total, read).map { $0 - $1 }
        Result(method: "digits", phase: "resume-total", state: "digits", bytes: 0, seconds: total).emit()
        Result(method: "digits", phase: "resume-started", state: "digits", bytes: 0, seconds: started).emit()
        Result(method: "digits", phase: "resume-read", state: "digits", bytes: 0, seconds: read).emit()
        Result(method: "digits", phase: "resume-overhead", state: "digits", bytes: 0, seconds: overhead).emit()
    }

    /// What resuming must do at least: find and verify the latest checkpoint,
    /// load every tensor file, parse every JSON file.
    static func readState(_ run: String) throws {
        let store = try CheckpointStore(directory: run)
        guard let checkpoint = try store.latest(verify: true)?.checkpoint else { throw BenchFailure("no checkpoint in \(run)") }
        // Tensor sets through `tensors(named:)` (a sharded set through its index, as a resume reads it).
        for name in checkpoint.tensorSetNames {
            let tensors = try checkpoint.tensors(named: name)
            for t in tensors.tensors where t.dtype == .f32 { _ = try tensors.array(t.name, as: Float.self) }
        }
        for file in checkpoint.manifest.files where file.name.hasSuffix(".json") {
            _ = try JSONParser().parse(try Files.read(checkpoint.path(of: file.name)))
        }
    }

    static func spawn(_ binary: String, _ arguments: [String]) throws -> (process: Process, output: Pipe) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        return (process, output)
    }
}
