import Glibc
import CSystemShims

/// File-system operations with the durability Resumable needs: every call
/// retries on EINTR, fails with a `ResumableError` naming the path, and passes
/// through fault injection in debug builds.
package enum FileSystem {
    /// Whether something exists at `path` (without following a final symbolic link).
    package static func exists(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0
    }

    /// What is at a path, the final symbolic link not followed.
    package enum EntryType: Sendable, Equatable {
        case missing, regular, directory, symbolicLink, other

        var noun: String {
            switch self {
            case .missing: return "nothing"
            case .regular: return "a regular file"
            case .directory: return "a directory"
            case .symbolicLink: return "a symbolic link"
            case .other: return "a FIFO, socket or device"
            }
        }
    }

    /// What is at `path`, without following a final symbolic link.
    package static func entryType(_ path: String) -> EntryType {
        var st = stat()
        guard lstat(path, &st) == 0 else { return .missing }
        switch st.st_mode & S_IFMT {
        case S_IFREG: return .regular
        case S_IFDIR: return .directory
        case S_IFLNK: return .symbolicLink
        default: return .other
        }
    }

    /// The error for a link or special file found where Resumable keeps one of
    /// its own files or directories (exit 65).
    package static func misplacedEntry(_ path: String, found: EntryType, expected: EntryType) -> ResumableError {
        ResumableError(
            .corrupt,
            "\(path) is \(found.noun), where the run keeps \(expected.noun); Resumable never reads, writes or deletes through links or special files inside a run. Move it away (`mv \(path) …`) and run again.",
            path: path)
    }

    /// Checks that `path`, a file or directory Resumable keeps inside a run, is
    /// missing or of `type` itself, not a symbolic link to one.
    /// - Throws: `.corrupt` naming the path otherwise.
    package static func requireMissingOr(_ type: EntryType, _ path: String) throws {
        let found = entryType(path)
        guard found == .missing || found == type else { throw misplacedEntry(path, found: found, expected: type) }
    }

    /// Creates a directory Resumable keeps inside a run (`checkpoints`,
    /// `.staging`, …). An existing one must be a real directory: a symbolic
    /// link or any other file in its place is refused, never followed.
    /// - Throws: `.corrupt` for a link or file in the way; `.cannotCreate`/`.io` when mkdir fails.
    package static func createOwnedDirectory(_ path: String) throws {
        try requireMissingOr(.directory, path)
        guard entryType(path) == .missing else { return }
        if let fault = FaultInjection.check(.mkdir) {
            throw ResumableError.system("create the directory", path: path, errno: fault.errno, creating: true)
        }
        if mkdir(path, 0o755) != 0 {
            let code = errno
            if code == EEXIST { return try requireMissingOr(.directory, path) }
            throw ResumableError.system("create the directory", path: path, errno: code, creating: true)
        }
    }

    /// Whether `path` is a directory.
    package static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// The size of a regular file in bytes.
    package static func size(of path: String) throws -> Int64 {
        var st = stat()
        guard stat(path, &st) == 0 else { throw ResumableError.system("read the size of", path: path, errno: errno) }
        return Int64(st.st_size)
    }

    /// The modification time of a file, in seconds since 1970.
    package static func modificationTime(of path: String) throws -> Double {
        var st = stat()
        guard stat(path, &st) == 0 else { throw ResumableError.system("read", path: path, errno: errno) }
        return Double(st.st_mtim.tv_sec) + Double(st.st_mtim.tv_nsec) / 1e9
    }

    /// Creates a directory (and, with `intermediate`, its parents). An existing directory is fine.
    package static func createDirectory(_ path: String, intermediate: Bool = true) throws {
        if isDirectory(path) { return }
        if intermediate {
            let parent = FilePath.parent(of: path)
            if parent != path && !parent.isEmpty && !isDirectory(parent) {
                try createDirectory(parent, intermediate: true)
            }
        }
        if let fault = FaultInjection.check(.mkdir) {
            throw ResumableError.system("create the directory", path: path, errno: fault.errno, creating: true)
        }
        if mkdir(path, 0o755) != 0 {
            let code = errno
            if code == EEXIST && isDirectory(path) { return }
            throw ResumableError.system("create the directory", path: path, errno: code, creating: true)
        }
    }

    /// The names in a directory, without `.` and `..`, unsorted.
    package static func contents(of path: String) throws -> [String] {
        guard let dir = opendir(path) else { throw ResumableError.system("list the directory", path: path, errno: errno) }
        defer { closedir(dir) }
        return readNames(dir)
    }

    /// Flushes a file or directory to stable storage.
    package static func sync(_ path: String) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ResumableError.system("open for fsync", path: path, errno: errno) }
        defer { close(fd) }
        try syncDescriptor(fd, path: path)
    }

    /// fsync of an open descriptor, through fault injection.
    static func syncDescriptor(_ fd: Int32, path: String) throws {
        if let fault = FaultInjection.check(.fsync) { throw ResumableError.system("fsync", path: path, errno: fault.errno) }
        if case .failure(let e) = retryingInterrupts({ fsync(fd) }) {
            throw ResumableError.system("fsync", path: path, errno: e.rawValue)
        }
    }

    /// Renames `source` to `destination` atomically.
    ///
    /// With `replacing: false` an existing destination is never overwritten:
    /// the call fails with `.conflict` instead (renameat2 RENAME_NOREPLACE where
    /// the kernel has it, otherwise link-then-unlink for files and a checked
    /// rename for directories).
    package static func rename(_ source: String, to destination: String, replacing: Bool) throws {
        if let fault = FaultInjection.check(.rename) {
            throw ResumableError.system("rename \(source) to", path: destination, errno: fault.errno)
        }
        if replacing {
            if Glibc.rename(source, destination) != 0 {
                throw ResumableError.system("rename \(source) to", path: destination, errno: errno)
            }
            return
        }
        #if os(Linux)
        let r = resumable_rename_noreplace(source, destination)
        if r == 0 { return }
        let code = errno
        if code == EEXIST || code == ENOTEMPTY {
            throw ResumableError(.conflict, "\(destination) already exists; it is never replaced.", path: destination)
        }
        if code != EINVAL && code != ENOSYS {
            throw ResumableError.system("rename \(source) to", path: destination, errno: code)
        }
        #endif
        // Fallback for file systems without RENAME_NOREPLACE: rename(2) of a
        // directory onto a non-empty directory fails; check first for the rest.
        if exists(destination) {
            throw ResumableError(.conflict, "\(destination) already exists; it is never replaced.", path: destination)
        }
        if Glibc.rename(source, destination) != 0 {
            let code = errno
            if code == EEXIST || code == ENOTEMPTY {
                throw ResumableError(.conflict, "\(destination) already exists; it is never replaced.", path: destination)
            }
            throw ResumableError.system("rename \(source) to", path: destination, errno: code)
        }
    }

    /// Removes a file, or a directory with everything under it. A missing path is fine.
    ///
    /// Nothing is followed: the parent directory is opened without following a
    /// link (a link there is refused), and the tree is walked and removed
    /// relative to directory descriptors (`openat`/`unlinkat` with
    /// `O_NOFOLLOW`), so a symbolic link inside it is removed, never its target.
    package static func removeTree(_ path: String) throws {
        let parent = FilePath.parent(of: path)
        let name = FilePath.lastComponent(of: path)
        let parentFD = try openDirectory(parent)
        guard parentFD >= 0 else { return }
        defer { close(parentFD) }
        try removeTree(named: name, in: parentFD, path: path)
    }

    /// Removes everything inside the directory `path` (which must be a real
    /// directory, not a link to one), without following links.
    /// - Returns: how many entries it held.
    @discardableResult
    package static func emptyDirectory(_ path: String) throws -> Int {
        let fd = try openDirectory(path)
        guard fd >= 0 else { return 0 }
        defer { close(fd) }
        let names = try contents(ofDescriptor: fd, path: path)
        for name in names { try removeTree(named: name, in: fd, path: FilePath.join(path, name)) }
        return names.count
    }

    /// Opens a directory without following a final link; -1 when it does not exist.
    private static func openDirectory(_ path: String) throws -> Int32 {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        if fd >= 0 { return fd }
        let code = errno
        if code == ENOENT { return -1 }
        if code == ELOOP || code == ENOTDIR {
            throw misplacedEntry(path, found: entryType(path), expected: .directory)
        }
        throw ResumableError.system("open the directory", path: path, errno: code)
    }

    private static func removeTree(named name: String, in directoryFD: Int32, path: String) throws {
        var st = stat()
        guard fstatat(directoryFD, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else {
            if errno == ENOENT { return }
            throw ResumableError.system("remove", path: path, errno: errno)
        }
        var flags: Int32 = 0
        if (st.st_mode & S_IFMT) == S_IFDIR {
            let fd = openat(directoryFD, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard fd >= 0 else {
                if errno == ENOENT { return }
                throw ResumableError.system("open the directory", path: path, errno: errno)
            }
            defer { close(fd) }
            for child in try contents(ofDescriptor: fd, path: path) {
                try removeTree(named: child, in: fd, path: FilePath.join(path, child))
            }
            flags = AT_REMOVEDIR
        }
        if let fault = FaultInjection.check(.unlink) { throw ResumableError.system("remove", path: path, errno: fault.errno) }
        if unlinkat(directoryFD, name, flags) != 0 && errno != ENOENT {
            throw ResumableError.system("remove", path: path, errno: errno)
        }
    }

    /// The names in an open directory (a duplicate descriptor is read, so `fd` stays open).
    private static func contents(ofDescriptor fd: Int32, path: String) throws -> [String] {
        let copy = dup(fd)
        guard copy >= 0, let dir = fdopendir(copy) else {
            let code = errno
            if copy >= 0 { close(copy) }
            throw ResumableError.system("list the directory", path: path, errno: code)
        }
        defer { closedir(dir) }
        rewinddir(dir)
        return readNames(dir)
    }

    private static func readNames(_ dir: OpaquePointer) -> [String] {
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.baseAddress!.assumingMemoryBound(to: CChar.self))
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// Reads a whole (small) file into memory.
    ///
    /// Only a regular file is read: a FIFO or device planted where a file
    /// belongs is refused (`.corrupt`) instead of blocking the reader forever,
    /// and a symbolic link is refused unless `followingSymlinks` (the files of
    /// runs and checkpoints are never reached through a link).
    package static func readFile(_ path: String, limit: Int = 256 << 20, followingSymlinks: Bool = false) throws -> [UInt8] {
        let fd = try openRegularFile(path, O_RDONLY, followingSymlinks: followingSymlinks)
        defer { close(fd) }
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { buf in
                retryingInterrupts { read(fd, buf.baseAddress, buf.count) }
            }
            switch n {
            case .failure(let e): throw ResumableError.system("read", path: path, errno: e.rawValue)
            case .success(0): return result
            case .success(let count):
                result.append(contentsOf: chunk[0..<count])
                if result.count > limit {
                    throw ResumableError(.corrupt, "\(path) is larger than \(limit) bytes; it is not a file Resumable wrote.", path: path)
                }
            }
        }
    }

    /// Opens a regular file without blocking (a FIFO never blocks the open)
    /// and without following a final link unless asked to; with `O_CREAT`
    /// in `flags` a missing file is created (mode 0644). The one way the
    /// run's own files (`.lock`, `events.jsonl`, manifests…) are opened.
    /// - Throws: `.corrupt` for a link, directory, FIFO or device; `.notFound`
    ///   when missing; `.cannotCreate` when it cannot be created.
    package static func openRegularFile(_ path: String, _ flags: Int32, followingSymlinks: Bool = false) throws -> Int32 {
        let all = flags | O_CLOEXEC | O_NONBLOCK | (followingSymlinks ? 0 : O_NOFOLLOW)
        let creating = flags & O_CREAT != 0
        let fd = creating ? open(path, all, 0o644) : open(path, all)
        guard fd >= 0 else {
            let code = errno
            if code == ELOOP { throw misplacedEntry(path, found: .symbolicLink, expected: .regular) }
            if code == ENXIO || code == EISDIR { throw misplacedEntry(path, found: entryType(path), expected: .regular) }
            throw ResumableError.system(creating ? "create" : "open", path: path, errno: code, creating: creating)
        }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            let code = errno
            close(fd)
            throw ResumableError.system("read the size of", path: path, errno: code)
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw misplacedEntry(path, found: (st.st_mode & S_IFMT) == S_IFDIR ? .directory : .other, expected: .regular)
        }
        return fd
    }

    /// Writes a small file durably and atomically: a temporary file beside it,
    /// fsync, rename over `path`, fsync of the directory.
    package static func writeAtomically(_ bytes: [UInt8], to path: String) throws {
        let temporary = path + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        do {
            let file = try DurableFile.create(temporary)
            try bytes.withUnsafeBytes { (raw: UnsafeRawBufferPointer) throws in try file.write(raw) }
            try file.sync()
            try file.close()
            try rename(temporary, to: path, replacing: true)
            try sync(FilePath.parent(of: path))
        } catch {
            _ = unlink(temporary)
            throw error
        }
    }

    /// Bytes available to an unprivileged user on the file system holding `path`.
    /// Test builds (`RESUMABLE_FAULT_INJECTION=1`) report
    /// `RESUMABLE_FAULT_FREE_BYTES` instead when it is set, so a full disk can
    /// be simulated without filling one (see `FaultInjection.availableBytesOverride`).
    package static func availableBytes(at path: String) -> Int64? {
        if let simulated = FaultInjection.availableBytesOverride { return simulated }
        var s = statvfs()
        guard statvfs(path, &s) == 0 else { return nil }
        return Int64(s.f_bavail) * Int64(s.f_frsize)
    }
}

/// Small path helpers on plain strings.
package enum FilePath {
    /// Whether `name` is a plain file name that stays inside its directory: not
    /// empty, `.` or `..`, no `/` or `\`, no control characters, at most 255 bytes.
    /// Names read from files Resumable did not write are checked with it.
    package static func isPlainName(_ name: String) -> Bool {
        !(name.isEmpty || name == "." || name == ".." || name.contains("/") || name.contains("\\")
            || name.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F } || name.utf8.count > 255)
    }

    /// `name` with control characters shown as `?`, for messages.
    package static func printable(_ name: String) -> String {
        name.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? "?" : String($0) }.joined()
    }

    /// The directory part of a path (`"."` for a bare name).
    package static func parent(of path: String) -> String {
        var trimmed = Substring(path)
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        guard let slash = trimmed.lastIndex(of: "/") else { return "." }
        if slash == trimmed.startIndex { return "/" }
        return String(trimmed[..<slash])
    }

    /// The last component of a path.
    package static func lastComponent(of path: String) -> String {
        var trimmed = Substring(path)
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        guard let slash = trimmed.lastIndex(of: "/") else { return String(trimmed) }
        return String(trimmed[trimmed.index(after: slash)...])
    }

    /// `base/name`.
    package static func join(_ base: String, _ name: String) -> String {
        base.hasSuffix("/") ? base + name : base + "/" + name
    }

    /// An absolute form of `path`, relative ones resolved against the current directory.
    package static func absolute(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard getcwd(&buffer, buffer.count) != nil else { return path }
        let cwd = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return path == "." ? cwd : join(cwd, path)
    }
}
