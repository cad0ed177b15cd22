import Glibc

/// A read-only memory map of a whole file; the bytes stay valid while the
/// object lives. Pages are read from disk only when touched.
// @unchecked: immutable after `init` (a read-only mapping, unmapped in
// `deinit`); any thread may read `bytes`.
package final class MappedFile: @unchecked Sendable {
    /// The path that was mapped.
    package let path: String
    /// The file's bytes.
    package let bytes: UnsafeRawBufferPointer
    private let mapping: UnsafeMutableRawPointer?
    private let length: Int

    /// Maps `path` read-only.
    /// - Parameter followingSymlinks: whether a symbolic link at `path` is
    ///   followed; files inside a run are mapped with `false`, so a link
    ///   planted there is refused (`.corrupt`) instead of read.
    /// - Throws: `.notFound` if it does not exist, `.corrupt` if it is not a
    ///   regular file (a FIFO never blocks the open), `.io` if it cannot be read or mapped.
    package init(path: String, followingSymlinks: Bool = true) throws {
        self.path = path
        let fd = try FileSystem.openRegularFile(path, O_RDONLY, followingSymlinks: followingSymlinks)
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw ResumableError.system("read the size of", path: path, errno: errno) }
        length = Int(st.st_size)
        if length == 0 {
            mapping = nil
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        let p = mmap(nil, length, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let p, p != MAP_FAILED else { throw ResumableError.system("map", path: path, errno: errno) }
        mapping = p
        bytes = UnsafeRawBufferPointer(start: p, count: length)
    }

    /// Tells the kernel the whole file will be read in order soon.
    package func adviseSequential() {
        guard let mapping else { return }
        _ = madvise(mapping, length, MADV_SEQUENTIAL)
        _ = madvise(mapping, length, MADV_WILLNEED)
    }

    /// Reads the first `count` bytes into the page cache, and only those:
    /// the first touch of a cold mapping would otherwise read the device's
    /// whole read-ahead window (8 MiB on some disks) to get a small header.
    package func prefetchPrefix(_ count: Int) {
        guard let mapping, count > 0 else { return }
        _ = madvise(mapping, min(count, length), MADV_WILLNEED)
    }

    deinit {
        if let mapping { munmap(mapping, length) }
    }
}
