// resumable-crash-writer: a writer for the crash tests.
//
//   resumable-crash-writer RUN [--steps N] [--async-arena]
//   resumable-crash-writer RUN --segfault-during-snapshot   (RUN is not used)
//
// Opens RUN for writing (creating it), prints `open PID staging=N trash=N`
// (what the open left in .staging/.trash: always 0), then commits
// `CrashWorkload` checkpoints at the steps after the latest one, with
// `CrashWorkload.policy` retention, printing `committed STEP` after each
// commit (and its prune) and `edited STEP` after each edit. With --steps it
// stops after N commits and prints `done`; otherwise it runs until killed.
// Errors go to stderr and end the process with the error's exit code.
// With --async-arena the same checkpoints are saved by an AsyncCheckpointWriter
// from a TensorArena (copy-on-write snapshots), and the arena is overwritten
// while each save is in flight (`CrashWorkload.ArenaState`).
// --segfault-during-snapshot writes to read-only memory outside an arena while
// an arena snapshot is in progress: the process must die of SIGSEGV, as any
// program would, not hang or go on.
//   resumable-crash-writer RUN --foreign-handlers      (RUN is not used)
//   resumable-crash-writer RUN --snapshot-values default|api|env
// test copy-on-write next to other SIGSEGV handlers and with it switched
// off: see SignalModes.swift.
// In debug builds `RESUMABLE_FAULT=point:n:errno` injects a fault.
#if canImport(Glibc)
import Glibc
#endif
import CheckpointStore
import CrashWorkload
import DurableFiles
import JSON
import Logging
import SafeTensors

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
if arguments.contains("--foreign-handlers") { runForeignHandlers() }
if arguments.count == 3, arguments[1] == "--snapshot-values" { runSnapshotValues(run: arguments[0], mode: arguments[2]) }
if arguments.contains("--segfault-during-snapshot") {
    do {
        let arena = try TensorArena(capacity: 4 << 20)
        let values = try arena.allocate(Float.self, count: 1 << 20)
        values.update(repeating: 1)
        let buffer = SnapshotBuffer()
        let snapshot = try buffer.snapshot([
            TensorSource(name: "w", dtype: .f32, shape: [values.count], bytes: UnsafeRawBufferPointer(values))])
        values[0] = 2  // a write the snapshot copies first: goes on
        guard let page = mmap(nil, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), page != MAP_FAILED else {
            fail("mmap failed", code: 1)
        }
        report("writing to read-only memory")
        page.storeBytes(of: 1, as: UInt8.self)
        try snapshot.complete()
        report("survived")
        exit(0)
    } catch {
        fail("\(error)", code: 1)
    }
}
let asyncArena = arguments.contains("--async-arena")
arguments.removeAll { $0 == "--async-arena" }
guard arguments.count == 1 else { fail("usage: resumable-crash-writer RUN [--steps N] [--async-arena]", code: 64) }
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
    let arenaState = asyncArena ? try CrashWorkload.ArenaState() : nil
    let writer = asyncArena ? AsyncCheckpointWriter(store: store) : nil
    while steps.map({ committed < $0 }) ?? true {
        if let arenaState, let writer {
            try arenaState.save(step: step, with: writer)
            try writer.flush()
        } else {
            try store.commit(step: step) { try CrashWorkload.fill($0) }
        }
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
