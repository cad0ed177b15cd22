#if canImport(Glibc)
import Glibc
#endif
import DurableFiles

extension ResultCache {
    /// Runs `body` holding the key's lock: an exclusive `flock` on
    /// `locks/XX/HASH`, which the kernel drops when the holder dies, so a
    /// crashed computation never blocks the key. The holder writes its pid
    /// and host into the file for the waiters' messages. Leftover temporary
    /// files of the key (a killed holder's) are removed once it is held.
    ///
    /// Lock files are never removed: a waiter holds a descriptor of the file,
    /// and a new file at the same path would let a third process in beside
    /// the holder.
    func withKeyLock<T>(_ name: EntryName, _ body: () throws -> T) throws -> T {
        try ensureDirectory(directory)
        try ensureDirectory(locksDirectory)
        try ensureDirectory(FilePath.join(locksDirectory, name.shard))
        let path = lockPath(name)
        let fd = try FileSystem.openRegularFile(path, O_RDWR | O_CREAT)
        defer { close(fd) }  // releases the lock
        try acquire(fd, path: path, key: name.key)
        defer { _ = ftruncate(fd, 0) }
        Self.recordHolder(fd)
        try removeLeftoverTemporaries(of: name)
        return try body()
    }

    /// Blocks until the lock is taken; with ``lockTimeout``, polls (`LOCK_NB`,
    /// sleeps growing from 2 to 100 ms) and fails with `.locked` at the deadline.
    private func acquire(_ fd: Int32, path: String, key: String) throws {
        guard let timeout = lockTimeout else {
            while flock(fd, LOCK_EX) != 0 {
                if errno != EINTR { throw ResumableError.system("lock", path: path, errno: errno) }
            }
            return
        }
        let deadline = Timestamp.monotonic() + max(0, timeout)
        var pause: useconds_t = 2_000
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            if code == EINTR { continue }
            guard code == EWOULDBLOCK else { throw ResumableError.system("lock", path: path, errno: code) }
            if Timestamp.monotonic() >= deadline {
                let holder = Self.readHolder(fd).map { " by \($0)" } ?? ""
                throw ResumableError(
                    .locked,
                    "the key \"\(EntryName.printable(key))\" is still being computed\(holder) after \(timeout) s (lock \(path)); wait longer or stop that process.",
                    path: path)
            }
            usleep(pause)
            pause = min(pause * 2, 100_000)
        }
    }

    private static func recordHolder(_ fd: Int32) {
        var host = [CChar](repeating: 0, count: 256)
        _ = gethostname(&host, host.count - 1)
        let hostName = String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let text = Array("pid \(getpid()) on \(hostName) since \(Timestamp.now())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = text.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
    }

    private static func readHolder(_ fd: Int32) -> String? {
        var buffer = [UInt8](repeating: 0, count: 512)
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { return nil }
        let text = String(decoding: buffer[0..<n], as: UTF8.self).split(separator: "\n").first.map(String.init)
        return text.map(FilePath.printable)
    }

    /// Removes `tmp/HASH.*`: only the lock holder writes them, so any found
    /// when the lock is taken belong to a holder that died.
    private func removeLeftoverTemporaries(of name: EntryName) throws {
        guard FileSystem.entryType(temporaryDirectory) == .directory else { return }
        let prefix = name.hash + "."
        for file in try FileSystem.contents(of: temporaryDirectory) where file.hasPrefix(prefix) {
            try FileSystem.removeTree(FilePath.join(temporaryDirectory, file))
        }
    }

    /// Makes `path` a directory of the cache when it is missing, and makes
    /// its name durable in the parent. A link or file in its place is refused
    /// (`.corrupt`); the cache directory's own parents are made as needed.
    func ensureDirectory(_ path: String) throws {
        if FileSystem.entryType(path) == .directory { return }
        let parent = FilePath.parent(of: path)
        if path == directory && FileSystem.entryType(parent) == .missing { try FileSystem.createDirectory(parent) }
        try FileSystem.createOwnedDirectory(path)
        try FileSystem.sync(parent)
    }
}
