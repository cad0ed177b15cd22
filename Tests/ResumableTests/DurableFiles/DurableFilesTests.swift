#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Resumable
import Testing

/// The durable file layer: no-replace renames, atomic writes, and the run lock
/// across processes.
@Suite("DurableFiles")
struct DurableFilesTests {
    @Test("rename without replacing refuses an existing file or directory, and leaves both")
    func renameNoReplace() throws {
        let dir = TestSupport.temporaryDirectory("durable")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileSystem.writeAtomically(Array("a".utf8), to: dir + "/a")
        try FileSystem.writeAtomically(Array("b".utf8), to: dir + "/b")
        let error = #expect(throws: ResumableError.self) { try FileSystem.rename(dir + "/a", to: dir + "/b", replacing: false) }
        #expect(error?.code == .conflict)
        #expect(error?.message.contains(dir + "/b") == true)
        #expect(try FileSystem.readFile(dir + "/a") == Array("a".utf8))
        #expect(try FileSystem.readFile(dir + "/b") == Array("b".utf8))
        // Directories: an empty destination directory is not replaced either.
        try FileSystem.createDirectory(dir + "/d1/x")
        try FileSystem.createDirectory(dir + "/d2")
        #expect(throws: ResumableError.self) { try FileSystem.rename(dir + "/d1", to: dir + "/d2", replacing: false) }
        #expect(FileSystem.isDirectory(dir + "/d1/x"))
        try FileSystem.rename(dir + "/d1", to: dir + "/d3", replacing: false)
        #expect(FileSystem.isDirectory(dir + "/d3/x") && !FileSystem.exists(dir + "/d1"))
        try FileSystem.rename(dir + "/a", to: dir + "/b", replacing: true)
        #expect(try FileSystem.readFile(dir + "/b") == Array("a".utf8))
    }

    @Test("writeAtomically replaces the whole file and leaves no temporary")
    func writeAtomically() throws {
        let dir = TestSupport.temporaryDirectory("durable")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/f.json"
        try FileSystem.writeAtomically(Array(repeating: 1, count: 100_000), to: path)
        try FileSystem.writeAtomically(Array("short".utf8), to: path)
        #expect(try FileSystem.readFile(path) == Array("short".utf8))
        #expect(try FileSystem.contents(of: dir) == ["f.json"])
        // A failing write keeps the old content and removes its temporary file.
        let scope = FaultScope(FaultInjection.Fault(point: .fsync, nth: 1, errno: EIO))
        let error = #expect(throws: ResumableError.self) { try scope.run { try FileSystem.writeAtomically(Array("new".utf8), to: path) } }
        #expect(error?.code == .io)
        #expect(try FileSystem.readFile(path) == Array("short".utf8))
        #expect(try FileSystem.contents(of: dir) == ["f.json"])
    }

    @Test("a FaultScope fires once, at the n-th call, for its own task only")
    func faultScope() throws {
        let dir = TestSupport.temporaryDirectory("durable")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let scope = FaultScope(FaultInjection.Fault(point: .write, nth: 2, errno: ENOSPC))
        let file = try DurableFile.create(dir + "/x")
        try scope.run { try file.write([1]) }
        // Calls outside the scope do not count and do not fail.
        try file.write([2])
        let error = #expect(throws: ResumableError.self) { try scope.run { try file.write([3]) } }
        #expect(error?.code == .io && error?.errno == ENOSPC)
        #expect(error?.message.contains("Free some space") == true)
        try scope.run { try file.write([4]) }
        #expect(scope.triggered && scope.count(of: .write) == 3)
        #expect(FaultInjection.parse("write:2:short") == FaultInjection.Fault(point: .write, nth: 2, errno: ENOSPC, short: true))
        #expect(FaultInjection.parse("fsync:0:EIO") == nil)
        #expect(FaultInjection.parse("nothing:1:EIO") == nil)
    }

    @Test("the run lock: a live holder refuses another process with .locked; a dead holder's lock is taken over")
    func lockAcrossProcesses() throws {
        let run = TestSupport.temporaryDirectory("lock") + "/run"
        defer { try? FileManager.default.removeItem(atPath: FilePath.parent(of: run)) }
        let store = try CheckpointStore(directory: run, access: .write, create: true, logger: CrashInvariants.quietLogger)
        // While this process holds it, a writer process is refused (exit 75) and names this process.
        let refused = try TestProcess.crashWriter(run: run, arguments: ["--steps", "1"], stderrPath: FilePath.parent(of: run) + "/err1")
        let ended = refused.wait()
        let status = ended.status
        #expect(status == ResumableError(.locked, "").exitCode)
        #expect(refused.stderr.contains("in use by pid \(getpid())"), "\(refused.stderr)")
        #expect(RunLock.currentOwner(directory: run)?.pid == getpid())
        store.close()
        #expect(RunLock.currentOwner(directory: run) == nil)

        // A writer killed while holding the lock: its lock is taken over by the next open.
        let writer = try TestProcess.crashWriter(run: run, stderrPath: FilePath.parent(of: run) + "/err2")
        #expect(writer.waitForLine(startingWith: "committed "))
        #expect(RunLock.currentOwner(directory: run)?.pid == writer.pid)
        writer.signal(SIGKILL)
        _ = writer.wait()
        #expect(RunLock.currentOwner(directory: run) == nil, "the kernel dropped the dead writer's lock")
        let lockFile = try FileSystem.readFile(run + "/.lock")
        #expect(String(decoding: lockFile, as: UTF8.self).contains("\"pid\":\(writer.pid)"), "the lock file still names the dead owner")
        let next = try CheckpointStore(directory: run, access: .write, logger: CrashInvariants.quietLogger)
        #expect(RunLock.currentOwner(directory: run)?.pid == getpid())
        next.close()
    }

    @Test("a second writer in the same process is refused while the first holds the lock")
    func lockInProcess() throws {
        let run = TestSupport.temporaryDirectory("lock") + "/run"
        defer { try? FileManager.default.removeItem(atPath: FilePath.parent(of: run)) }
        let first = try CheckpointStore(directory: run, access: .write, create: true, logger: CrashInvariants.quietLogger)
        let error = #expect(throws: ResumableError.self) { _ = try CheckpointStore(directory: run, access: .write) }
        #expect(error?.code == .locked && error?.exitCode == 75)
        #expect(error?.message.contains(run) == true)
        // Readers are never refused.
        #expect(throws: Never.self) { _ = try CheckpointStore(directory: run, access: .read) }
        first.close()
        #expect(throws: Never.self) { _ = try CheckpointStore(directory: run, access: .write, logger: CrashInvariants.quietLogger) }
    }
}
