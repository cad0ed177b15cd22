// The crash writer's signal-handler modes (see main.swift):
//
//   --foreign-handlers   copy-on-write next to other runtimes' SIGSEGV handlers
//   --snapshot-values M  a save's values and whether the handler is installed,
//                        M = default | api (copyOnWrite: false) | env (the
//                        test sets RESUMABLE_COPY_ON_WRITE=0)
#if canImport(Glibc)
import Glibc
#endif
import CheckpointStore
import DurableFiles
import SafeTensors

/// A JIT-like runtime: a SIGSEGV handler that recovers from faults on a page
/// of its own (makes it writable and returns) and hands any other fault back
/// to the handler that was there before it (installs it again and returns),
/// as a well-behaved runtime does. Two of them, so one can sit under the
/// copy-on-write handler and one over it. Only async-signal-safe work: no
/// Swift runtime calls, state in raw memory allocated up front.
struct RuntimeState {
    var page: UInt = 0
    var recovered: Int = 0
    var previous = sigaction()
}
nonisolated(unsafe) let runtimes: UnsafeMutablePointer<RuntimeState> = {
    let p = UnsafeMutablePointer<RuntimeState>.allocate(capacity: 2)
    p.initialize(repeating: RuntimeState(), count: 2)
    return p
}()

private func handle(_ runtime: Int, _ signal: Int32, _ info: UnsafeMutablePointer<siginfo_t>?) {
    let state = runtimes + runtime
    let address = UInt(bitPattern: info?.pointee._sifields._sigfault.si_addr)
    if state.pointee.page != 0, address & ~4095 == state.pointee.page {
        _ = mprotect(UnsafeMutableRawPointer(bitPattern: state.pointee.page), 4096, PROT_READ | PROT_WRITE)
        state.pointee.recovered += 1
        return
    }
    _ = sigaction(signal, &state.pointee.previous, nil)
}

private let runtimeHandlers: [@convention(c) (Int32, UnsafeMutablePointer<siginfo_t>?, UnsafeMutableRawPointer?) -> Void] = [
    { signal, info, _ in handle(0, signal, info) },
    { signal, info, _ in handle(1, signal, info) },
]

/// A read-only page.
private func readOnlyPage() -> UnsafeMutableRawPointer {
    guard let page = mmap(nil, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), page != MAP_FAILED else {
        fail("mmap failed", code: 1)
    }
    return page
}

/// Installs runtime `k`'s handler over whatever is installed, owning `page`.
private func installRuntime(_ k: Int, owning page: UnsafeMutableRawPointer) {
    runtimes[k].page = UInt(bitPattern: page)
    var action = sigaction()
    action.__sigaction_handler.sa_sigaction = runtimeHandlers[k]
    action.sa_flags = SA_SIGINFO
    sigemptyset(&action.sa_mask)
    guard sigaction(SIGSEGV, &action, &runtimes[k].previous) == 0 else { fail("sigaction failed", code: 1) }
}

/// Snapshots `values` (filled with `round`), writes into them while the
/// snapshot is in progress, and checks the snapshot holds the old values and
/// the arena the new ones; prints `snapshot ROUND ok`.
private func snapshotRound(_ round: Int, _ values: UnsafeMutableBufferPointer<Float>, _ buffer: SnapshotBuffer) throws {
    values.update(repeating: Float(round))
    let snapshot = try buffer.snapshot([
        TensorSource(name: "w", dtype: .f32, shape: [values.count], bytes: UnsafeRawBufferPointer(values))])
    for i in stride(from: 0, to: values.count, by: 1024) { values[i] = -1 }  // every 4 KiB page: each 2 MiB piece pauses
    try snapshot.complete()
    var copied = false
    try snapshot.tensors[0].withBytes { raw in copied = raw.bindMemory(to: Float.self).allSatisfy { $0 == Float(round) } }
    guard copied else { fail("snapshot \(round) does not hold the values it was taken of", code: 1) }
    guard values[0] == -1, values[1] == Float(round) else { fail("the writes during snapshot \(round) were lost", code: 1) }
    report("snapshot \(round) ok")
}

/// Runtime A installs its handler before any arena; the first snapshot
/// installs copy-on-write over it. A fault on A's page is handed to A, which
/// recovers: A is installed again. The next snapshot must install
/// copy-on-write again, or its writes reach A and crash. Then runtime B
/// installs its handler over copy-on-write, and the next snapshot installs
/// copy-on-write over B. Last, a write to a page no one owns must end the
/// process with SIGSEGV (through B, copy-on-write and A: no cycle, no hang).
func runForeignHandlers() -> Never {
    do {
        let pageA = readOnlyPage(), pageB = readOnlyPage(), nobodys = readOnlyPage()
        installRuntime(0, owning: pageA)
        let arena = try TensorArena(capacity: 8 << 20)
        let values = try arena.allocate(Float.self, count: (6 << 20) / 4)
        let buffer = SnapshotBuffer()
        try snapshotRound(1, values, buffer)
        pageA.storeBytes(of: 1, as: UInt8.self)
        report("runtime A recovered \(runtimes[0].recovered)")
        try snapshotRound(2, values, buffer)
        installRuntime(1, owning: pageB)
        try snapshotRound(3, values, buffer)
        pageB.storeBytes(of: 1, as: UInt8.self)
        report("runtime B recovered \(runtimes[1].recovered)")
        try snapshotRound(4, values, buffer)
        pageA.storeBytes(of: 2, as: UInt8.self)  // writable since A recovered: no fault
        report("reinstalled \(TensorArena.faultHandlerReinstalls)")
        report("writing to read-only memory")
        nobodys.storeBytes(of: 1, as: UInt8.self)
        report("survived")
        exit(0)
    } catch {
        fail("\(error)", code: 1)
    }
}

/// Saves an arena tensor with an AsyncCheckpointWriter into `run`, writes
/// into it at once, checks the checkpoint holds the saved values, and prints
/// `installed=BOOL faults=N` (whether the copy-on-write handler is installed
/// now, and the writes that paused on a snapshot) and `values ok`.
func runSnapshotValues(run: String, mode: String) -> Never {
    do {
        let arena = try TensorArena(capacity: 32 << 20)
        let values = try arena.allocate(Float.self, count: (30 << 20) / 4)
        for i in values.indices { values[i] = Float(i % 1000) }
        let expected = Array(values)
        let store = try CheckpointStore(directory: run, access: .write, create: true)
        let writer = AsyncCheckpointWriter(store: store, copyOnWrite: mode != "api")
        try writer.save(step: 1, tensors: [
            TensorSource(name: "w", dtype: .f32, shape: [values.count], bytes: UnsafeRawBufferPointer(values))])
        values.update(repeating: -1)
        guard let checkpoint = try writer.flush() else { fail("nothing committed", code: 1) }
        let saved: [Float] = try checkpoint.tensors().array("w")
        report("installed=\(TensorArena.faultHandlerInstalled) faults=\(TensorArena.faultStatistics.writes)")
        guard saved == expected else { fail("the checkpoint does not hold the saved values", code: 1) }
        report("values ok")
        exit(0)
    } catch {
        fail("\(error)", code: 1)
    }
}
