import Glibc
import JSON
package import Logging
import Synchronization

/// The one-writer lock of a run: an advisory `flock` on `RUN/.lock`, whose
/// contents say who holds it (pid, host, boot id, start time, a token).
///
/// The kernel drops a `flock` when its process dies, so a lock left by a
/// killed process is taken over at once, and the previous owner is named in
/// a log message. A live owner makes `acquire` fail with `.locked` (exit 75).
///
/// A supervisor that holds the lock lends it to its child through the
/// environment variable `RESUMABLE_LOCK_TOKEN`: a process presenting the
/// token written in the lock file may write without taking the lock itself.
///
/// A supervisor also records the process group of the job it runs
/// (`recordJob`). A writer that takes over the lock of a dead owner whose
/// job is still running refuses with `.locked` naming the job's processes,
/// so nothing writes beside an orphaned job (`resumable run` stops such a
/// job first, see `orphanedJob(directory:)`).
package final class RunLock: Sendable {
    /// The lock file.
    package let path: String
    /// The token a child may present to write under this lock.
    package let token: String
    /// The descriptor (-1 once released) and the owner record written in the file.
    private let state: Mutex<(descriptor: Int32, owner: Owner?)>
    /// Whether this process borrowed the lock of a supervisor rather than taking it.
    package let isBorrowed: Bool

    /// Who holds a lock, as written in the lock file.
    package struct Owner: Sendable, CustomStringConvertible {
        package var pid: Int32
        package var host: String
        package var bootID: String
        package var startedAt: String
        package var token: String
        package var command: String
        /// The process group of the job the owner (a supervisor) runs now, if any.
        package var jobProcessGroup: Int32?
        /// The start time of that group's leader (`/proc/PID/stat` field 22), against pid reuse.
        package var jobStartTicks: UInt64?

        package var description: String { "pid \(pid) on \(host) (since \(startedAt))" }

        var json: JSONValue {
            var fields: [String: JSONValue] = [
                "pid": .int(Int64(pid)), "host": .string(host), "boot_id": .string(bootID),
                "started_at": .string(startedAt), "token": .string(token), "command": .string(command),
            ]
            if let jobProcessGroup { fields["job_pgid"] = .int(Int64(jobProcessGroup)) }
            if let jobStartTicks { fields["job_start_ticks"] = .int(Int64(truncatingIfNeeded: jobStartTicks)) }
            return .object(fields)
        }

        init?(_ value: JSONValue) {
            guard let pid = value["pid"]?.intValue else { return nil }
            self.pid = Int32(truncatingIfNeeded: pid)
            host = value["host"]?.stringValue ?? "?"
            bootID = value["boot_id"]?.stringValue ?? ""
            startedAt = value["started_at"]?.stringValue ?? "?"
            token = value["token"]?.stringValue ?? ""
            command = value["command"]?.stringValue ?? ""
            if let group = value["job_pgid"]?.intValue, group > 1, group <= Int64(Int32.max) {
                jobProcessGroup = Int32(group)
            }
            if let ticks = value["job_start_ticks"]?.intValue, ticks >= 0 { jobStartTicks = UInt64(ticks) }
        }

        init(pid: Int32, host: String, bootID: String, startedAt: String, token: String, command: String) {
            self.pid = pid
            self.host = host
            self.bootID = bootID
            self.startedAt = startedAt
            self.token = token
            self.command = command
        }
    }

    private init(path: String, token: String, descriptor: Int32, owner: Owner?, borrowed: Bool) {
        self.path = path
        self.token = token
        self.state = Mutex((descriptor, owner))
        self.isBorrowed = borrowed
    }

    deinit { release() }

    /// Takes the lock of the run in `directory`.
    /// - Parameters:
    ///   - directory: the run directory; `.lock` is created in it.
    ///   - logger: receives a notice when a dead owner's lock is taken over.
    /// - Throws: `.locked` naming the live owner; `.corrupt` when `.lock` is a
    ///   symbolic link, a FIFO or a directory (never followed or truncated);
    ///   `.cannotCreate` or `.io` if the file cannot be made.
    package static func acquire(directory: String, logger: Logger = Logger(label: "resumable.lock")) throws
        -> RunLock
    {
        let path = FilePath.join(directory, ".lock")
        let fd = try FileSystem.openRegularFile(path, O_RDWR | O_CREAT)
        let previous = readOwner(fd: fd)
        if case .failure(let e) = retryingInterrupts({ flock(fd, LOCK_EX | LOCK_NB) }) {
            close(fd)
            if e.rawValue == EWOULDBLOCK {
                if let previous, let offered = environmentToken(), !previous.token.isEmpty, offered == previous.token {
                    return RunLock(path: path, token: offered, descriptor: -1, owner: nil, borrowed: true)
                }
                let who = previous.map { "\($0)" } ?? "another process"
                throw ResumableError(
                    .locked,
                    "the run \(directory) is in use by \(who). Wait for it to finish or stop it, then run again.",
                    path: path)
            }
            throw ResumableError.system("lock", path: path, errno: e.rawValue)
        }
        if let previous, previous.pid != getpid() {
            let orphans = previous.liveJobProcesses()
            if !orphans.isEmpty, let group = previous.jobProcessGroup, getpgrp() != group {
                flock(fd, LOCK_UN)
                close(fd)
                throw ResumableError(
                    .locked,
                    "the run \(directory) is in use by the job of \(previous), which is no longer running: process group \(group) is alive (pid \(ProcessTable.describe(orphans))). Stop it (kill -TERM -\(group)), or start `resumable run` on the run, which stops it, then run again.",
                    path: path)
            }
            logger.notice(
                "Took over the lock of \(directory) left by \(previous), which is no longer running.")
        }
        let owner = Owner(
            pid: getpid(), host: hostName(), bootID: bootID(), startedAt: Timestamp.now(),
            token: randomToken(), command: commandLine())
        _ = write(owner, to: fd)
        return RunLock(path: path, token: owner.token, descriptor: fd, owner: owner, borrowed: false)
    }

    /// Writes the owner record over the lock file's contents: the new record
    /// first, then the file cut to its length, so a reader sees one record or
    /// the other with a stale tail at worst (which does not parse as JSON).
    private static func write(_ owner: Owner, to fd: Int32) -> Bool {
        let content = Array(owner.json.serialized().utf8) + [0x0A]
        let written = content.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        guard written == content.count, ftruncate(fd, off_t(content.count)) == 0 else { return false }
        return fsync(fd) == 0
    }

    /// Records in the lock file the job the holder runs now (its process
    /// group and the leader's start time), or that it runs none (`nil`), so
    /// a process taking the lock over after the holder died can find the job.
    /// - Returns: whether the record was written (false for a borrowed or released lock, or an I/O error).
    @discardableResult
    package func recordJob(processGroup: Int32?) -> Bool {
        let ticks = processGroup.flatMap { ProcessTable.entry($0)?.startTicks }
        return state.withLock { state in
            guard state.descriptor >= 0, var owner = state.owner else { return false }
            owner.jobProcessGroup = processGroup
            owner.jobStartTicks = ticks
            state.owner = owner
            return Self.write(owner, to: state.descriptor)
        }
    }

    /// Who holds the lock of the run in `directory` now, or `nil` if nobody live does.
    package static func currentOwner(directory: String) -> Owner? {
        let path = FilePath.join(directory, ".lock")
        guard let fd = try? FileSystem.openRegularFile(path, O_RDONLY) else { return nil }
        defer { close(fd) }
        if flock(fd, LOCK_SH | LOCK_NB) == 0 {
            flock(fd, LOCK_UN)
            return nil
        }
        return readOwner(fd: fd)
    }

    /// Releases the lock. Safe to call more than once.
    ///
    /// A clean release empties the lock file, so only an owner that died
    /// holding the lock is reported (and taken over) by the next writer.
    package func release() {
        state.withLock { state in
            guard state.descriptor >= 0 else { return }
            _ = ftruncate(state.descriptor, 0)
            flock(state.descriptor, LOCK_UN)
            close(state.descriptor)
            state.descriptor = -1
        }
    }

    private static func readOwner(fd: Int32) -> Owner? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard n > 0, let value = try? JSONParser().parse(Array(buffer[0..<n])) else { return nil }
        return Owner(value)
    }

    private static func environmentToken() -> String? {
        guard let raw = getenv("RESUMABLE_LOCK_TOKEN") else { return nil }
        let s = String(cString: raw)
        return s.isEmpty ? nil : s
    }

    static func randomToken() -> String {
        (0..<4).map { _ in String(UInt32.random(in: 0...UInt32.max), radix: 16) }.joined()
    }

    /// The machine's host name.
    package static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "unknown" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The kernel's boot id (Linux), which tells a pid of this boot from one of an earlier boot.
    package static func bootID() -> String {
        guard let bytes = try? FileSystem.readFile("/proc/sys/kernel/random/boot_id", limit: 4096) else { return "" }
        return String(decoding: bytes, as: UTF8.self).filter { !$0.isWhitespace }
    }

    private static func commandLine() -> String {
        CommandLine.arguments.joined(separator: " ")
    }
}
