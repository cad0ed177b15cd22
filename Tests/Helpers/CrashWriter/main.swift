// resumable-crash-writer: a writer for the crash tests.
//
//   resumable-crash-writer RUN [--steps N]
//
// Opens RUN for writing (creating it), prints `open PID staging=N trash=N`
// (what the open left in .staging/.trash: always 0), then commits
// `CrashWorkload` checkpoints at the steps after the latest one, with
// `CrashWorkload.policy` retention, printing `committed STEP` after each
// commit (and its prune) and `edited STEP` after each edit. With --steps it
// stops after N commits and prints `done`; otherwise it runs until killed.
// Errors go to stderr and end the process with the error's exit code.
// In debug builds `RESUMABLE_FAULT=point:n:errno` injects a fault.
#if canImport(Glibc)
import Glibc
#endif
import CheckpointStore
import CrashWorkload
import DurableFiles
import JSON
import Logging

func report(_ line: String) {
    let bytes = Array((line + "\n").utf8)
    _ = bytes.withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
}

func fail(_ message: String, code: Int32) -> Never {
    let bytes = Array(("resumable-crash-writer: " + message + "\n").utf8)
    _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    exit(code)
}

var arguments = Array(CommandLine.arguments.dropFirst())
var steps: Int?
if let i = arguments.firstIndex(of: "--steps") {
    guard i + 1 < arguments.count, let n = Int(arguments[i + 1]), n >= 0 else { fail("--steps needs a count", code: 64) }
    steps = n
    arguments.removeSubrange(i...(i + 1))
}
guard arguments.count == 1 else { fail("usage: resumable-crash-writer RUN [--steps N]", code: 64) }
let runDirectory = arguments[0]

func entries(_ directory: String) -> Int { (try? FileSystem.contents(of: directory).count) ?? 0 }

do {
    var logger = Logger(label: "resumable-crash-writer")
    logger.logLevel = .warning
    let store = try CheckpointStore(directory: runDirectory, access: .write, create: true, logger: logger)
    let staging = entries(FilePath.join(store.checkpointsDirectory, ".staging"))
    let trash = entries(FilePath.join(store.checkpointsDirectory, ".trash"))
    report("open \(getpid()) staging=\(staging) trash=\(trash)")
    store.retention = CrashWorkload.policy
    var step = (try store.committedSteps().last ?? 0) + 1
    var committed = 0
    while steps.map({ committed < $0 }) ?? true {
        try store.commit(step: step) { try CrashWorkload.fill($0) }
        report("committed \(step)")
        if CrashWorkload.isEdited(step: step) {
            try store.edit(step: step, [.set(path: "metadata.edited", value: .int(step))])
            report("edited \(step)")
        }
        step += 1
        committed += 1
    }
    report("done")
    exit(0)
} catch let error as ResumableError {
    fail(error.message, code: error.exitCode)
} catch {
    fail("\(error)", code: 1)
}
