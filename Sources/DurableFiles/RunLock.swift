#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import JSON
public import Logging

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
public final class RunLock: @unchecked Sendable {
    /// The lock file.
    public let path: String
    /// The token a child may present to write under this lock.
    public let token: String
    private var descriptor: Int32
    /// Whether this process borrowed the lock of a supervisor rather than taking it.
    public let isBorrowed: Bool

    /// Who holds a lock, as written in the lock file.
    public struct Owner: Sendable, CustomStringConvertible {
        public var pid: Int32
        public var host: String
        public var bootID: String
        public var startedAt: String
        public var token: String
        public var command: String

        public var description: String { "pid \(pid) on \(host) (since \(startedAt))" }

        var json: JSONValue {
            .object([
                "pid": .int(Int64(pid)), "host": .string(host), "boot_id": .string(bootID),
                "started_at": .string(startedAt), "token": .string(token), "command": .string(command),
            ])
        }

        init?(_ value: JSONValue) {
            guard let pid = value["pid"]?.intValue else { return nil }
            self.pid = Int32(truncatingIfNeeded: pid)
            host = value["host"]?.stringValue ?? "?"
            bootID = value["boot_id"]?.stringValue ?? ""
            startedAt = value["started_at"]?.stringValue ?? "?"
            token = value["token"]?.stringValue ?? ""
            command = value["command"]?.stringValue ?? ""
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

    private init(path: String, token: String, descriptor: Int32, borrowed: Bool) {
        self.path = path
        self.token = token
        self.descriptor = descriptor
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
    public static func acquire(directory: String, logger: Logger = Logger(label: "resumable.lock")) throws
        -> RunLock
    {
        let path = FilePath.join(directory, ".lock")
        let fd = try openLockFile(path)
        let previous = readOwner(fd: fd)
        if case .failure(let e) = retryingInterrupts({ flock(fd, LOCK_EX | LOCK_NB) }) {
            close(fd)
            if e.rawValue == EWOULDBLOCK {
                if let previous, let offered = environmentToken(), !previous.token.isEmpty, offered == previous.token {
                    return RunLock(path: path, token: offered, descriptor: -1, borrowed: true)
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
            logger.notice(
                "Took over the lock of \(directory) left by \(previous), which is no longer running.")
        }
        let owner = Owner(
            pid: getpid(), host: hostName(), bootID: bootID(), startedAt: Timestamp.now(),
            token: randomToken(), command: commandLine())
        let content = Array(owner.json.serialized().utf8) + [0x0A]
        _ = ftruncate(fd, 0)
        _ = content.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        _ = fsync(fd)
        return RunLock(path: path, token: owner.token, descriptor: fd, borrowed: false)
    }

    /// Opens (creating) the lock file: never through a symbolic link, never
    /// blocking on a FIFO, and only a regular file.
    private static func openLockFile(_ path: String) throws -> Int32 {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0o644)
        guard fd >= 0 else {
            let code = errno
            if code == ELOOP || code == EISDIR || code == ENXIO {
                throw FileSystem.misplacedEntry(path, found: FileSystem.entryType(path), expected: .regular)
            }
            throw ResumableError.system("create the lock file", path: path, errno: code, creating: true)
        }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw FileSystem.misplacedEntry(path, found: FileSystem.entryType(path), expected: .regular)
        }
        return fd
    }

    /// Who holds the lock of the run in `directory` now, or `nil` if nobody live does.
    public static func currentOwner(directory: String) -> Owner? {
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
    public func release() {
        guard descriptor >= 0 else { return }
        _ = ftruncate(descriptor, 0)
        flock(descriptor, LOCK_UN)
        close(descriptor)
        descriptor = -1
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
    public static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "unknown" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The kernel's boot id (Linux), which tells a pid of this boot from one of an earlier boot.
    public static func bootID() -> String {
        guard let bytes = try? FileSystem.readFile("/proc/sys/kernel/random/boot_id", limit: 4096) else { return "" }
        return String(decoding: bytes, as: UTF8.self).filter { !$0.isWhitespace }
    }

    private static func commandLine() -> String {
        CommandLine.arguments.joined(separator: " ")
    }
}
