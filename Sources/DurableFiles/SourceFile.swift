#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A regular file another program wrote, read with `pread` (never mapped, so
/// a file truncated while it is read is an error, not a SIGBUS).
///
/// It remembers the size and modification time it had when it was opened;
/// every read must return all the bytes asked for, and ``checkUnchanged()``
/// compares the file with what it was, so a file that another process
/// changes while it is read fails with `.corrupt` instead of being recorded
/// half old, half new.
///
/// Not `Sendable`: its descriptor changes on `close()`; one thread uses it.
package final class SourceFile {
    /// The path it was opened at, or the one it is reported as.
    package let path: String
    /// Its size when it was opened.
    package let size: Int64
    /// The device and inode of the open file.
    package let device: UInt64
    package let inode: UInt64
    private let modified: timespec
    private var descriptor: Int32

    /// Opens a regular file for reading.
    /// - Parameters:
    ///   - followSymlinks: `false` refuses a symbolic link (`O_NOFOLLOW`).
    ///   - reportedAs: the path that messages name (and whose extension
    ///     tells a safetensors file), when it is not `path` — the user's file
    ///     for a link to it in a staging directory.
    /// - Throws: `.notFound`/`.io` when it cannot be opened; `.usage` for a
    ///   symbolic link refused or anything but a regular file.
    package init(path: String, followSymlinks: Bool = true, reportedAs: String? = nil) throws {
        self.path = reportedAs ?? path
        if let fault = FaultInjection.check(.open) { throw ResumableError.system("open", path: path, errno: fault.errno) }
        // O_NONBLOCK: a FIFO planted where a file belongs must not block (it is refused below).
        let flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | (followSymlinks ? 0 : O_NOFOLLOW)
        let fd: Int32
        switch retryingInterrupts({ open(path, flags) }) {
        case .success(let opened): fd = opened
        case .failure(let e) where e.rawValue == ELOOP && !followSymlinks:
            throw ResumableError(
                .usage, "\(path) is a symbolic link; --move takes regular files only (copy it instead, without --move).",
                path: path)
        case .failure(let e): throw ResumableError.system("open", path: path, errno: e.rawValue)
        }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            let code = errno
            Glibc.close(fd)
            throw ResumableError.system("read the size of", path: path, errno: code)
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            Glibc.close(fd)
            throw ResumableError(.usage, "\(path) is not a regular file; a checkpoint holds regular files only.", path: path)
        }
        descriptor = fd
        size = Int64(st.st_size)
        device = UInt64(st.st_dev)
        inode = UInt64(st.st_ino)
        modified = st.st_mtim
    }

    deinit {
        if descriptor >= 0 { Glibc.close(descriptor) }
    }

    /// Closes the file (it is closed when the object is freed anyway).
    package func close() {
        if descriptor >= 0 { Glibc.close(descriptor) }
        descriptor = -1
    }

    /// The error for a file that changed while it was read.
    package func changed() -> ResumableError {
        ResumableError(
            .corrupt,
            "\(path) changed while it was being committed; write it completely before committing.",
            path: path)
    }

    /// Reads exactly `buffer.count` bytes at `offset`.
    /// - Throws: `.corrupt` (``changed()``) when the file ends first (it shrank); `.io` when reading fails.
    package func read(at offset: Int64, into buffer: UnsafeMutableRawBufferPointer) throws {
        guard let base = buffer.baseAddress else { return }
        var done = 0
        while done < buffer.count {
            switch retryingInterrupts({ pread(descriptor, base + done, buffer.count - done, off_t(offset) + off_t(done)) }) {
            case .failure(let e): throw ResumableError.system("read", path: path, errno: e.rawValue)
            case .success(0): throw changed()
            case .success(let n): done += n
            }
        }
    }

    /// Reads `count` bytes at `offset` into a new array.
    package func read(at offset: Int64, count: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        try bytes.withUnsafeMutableBytes { try read(at: offset, into: $0) }
        return bytes
    }

    /// Throws ``changed()`` when the file's size or modification time is no
    /// longer what it was when it was opened.
    package func checkUnchanged() throws {
        var st = stat()
        guard fstat(descriptor, &st) == 0 else { throw ResumableError.system("read the size of", path: path, errno: errno) }
        guard Int64(st.st_size) == size, st.st_mtim.tv_sec == modified.tv_sec, st.st_mtim.tv_nsec == modified.tv_nsec else {
            throw changed()
        }
    }

    /// Flushes the file's data and metadata to stable storage.
    package func sync() throws {
        try FileSystem.syncDescriptor(descriptor, path: path)
    }

    /// Hard-links the open file (this inode, whatever `path` names now) at
    /// `destination`, which must not exist.
    /// - Returns: `false` when the file system cannot link it there (another
    ///   file system, no hard links): the caller copies instead.
    /// - Throws: `.conflict` when `destination` exists; `.io` for other failures.
    package func link(to destination: String) throws -> Bool {
        if let fault = FaultInjection.check(.rename) {
            throw ResumableError.system("link \(path) to", path: destination, errno: fault.errno)
        }
        // linkat of /proc/self/fd/N with AT_SYMLINK_FOLLOW links the open
        // file itself (AT_EMPTY_PATH would need CAP_DAC_READ_SEARCH).
        var code: Int32 = 0
        if case .failure(let e) = retryingInterrupts({ linkat(AT_FDCWD, "/proc/self/fd/\(descriptor)", AT_FDCWD, destination, AT_SYMLINK_FOLLOW) }) {
            code = e.rawValue
        } else {
            return true
        }
        if code == ENOENT && access("/proc/self/fd", F_OK) != 0 {
            // No /proc: link the path, then make sure it is the file that was opened.
            if case .failure(let e) = retryingInterrupts({ linkat(AT_FDCWD, path, AT_FDCWD, destination, 0) }) {
                code = e.rawValue
            } else {
                var st = stat()
                if lstat(destination, &st) == 0, UInt64(st.st_dev) == device, UInt64(st.st_ino) == inode { return true }
                _ = unlink(destination)
                throw changed()
            }
        }
        switch code {
        case EXDEV, EMLINK, EPERM, ENOTSUP, EOPNOTSUPP: return false
        case EEXIST: throw ResumableError(.conflict, "\(destination) already exists; it is never replaced.", path: destination)
        default: throw ResumableError.system("link \(path) to", path: destination, errno: code)
        }
    }

    /// Removes `path` if it is still the file with this device and inode (a
    /// file put in its place since is left alone).
    /// - Returns: whether it was removed.
    @discardableResult
    package static func remove(_ path: String, ifDevice device: UInt64, inode: UInt64) throws -> Bool {
        var st = stat()
        guard lstat(path, &st) == 0, UInt64(st.st_dev) == device, UInt64(st.st_ino) == inode else { return false }
        if let fault = FaultInjection.check(.unlink) { throw ResumableError.system("remove", path: path, errno: fault.errno) }
        if unlink(path) != 0 && errno != ENOENT { throw ResumableError.system("remove", path: path, errno: errno) }
        return true
    }
}
