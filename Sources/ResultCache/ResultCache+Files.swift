#if canImport(Glibc)
import Glibc
#endif
import DurableFiles

extension ResultCache {
    /// The path of the file holding the value of `key`, computing it first
    /// when there is none — for artefacts too big for memory (feature arrays,
    /// datasets): nothing is loaded, the SHA-256 is computed as the file is read.
    ///
    /// `compute` gets a path that does not exist yet (in the cache's `tmp/`,
    /// on the cache's file system) and must write the value there as a
    /// regular file; the cache then syncs it, hashes it and moves it into
    /// place. If it throws, whatever it wrote is removed and nothing is stored.
    ///
    /// A cached file is checked in full (length and SHA-256) every time it is
    /// returned, about 2 GB/s. The returned file is read-only (mode 0444) and
    /// must never be modified: open it, or copy it. A later `remove` or `put`
    /// of the key replaces the path (a descriptor already open keeps the old bytes).
    /// - Throws: what `compute` throws; `.notFound` when it wrote no regular
    ///   file at the path; `.usage` for a bad key; `.locked` after ``lockTimeout``;
    ///   `.io` when a read or write fails.
    public func file(for key: String, compute: (String) throws -> Void) throws -> String {
        let name = try EntryName(key: key)
        if case .valid(let entry) = try lookup(name, load: false) { return entry.path }
        return try withKeyLock(name) {
            if let entry = try validEntryUnderLock(name, load: false) { return entry.path }
            let temporary = try temporaryPath(name, suffix: "bin")
            defer { try? FileSystem.removeTree(temporary) }
            try compute(temporary)
            guard FileSystem.entryType(temporary) == .regular else {
                let found = FileSystem.entryType(temporary)
                throw ResumableError(
                    .notFound,
                    "the computation of \"\(EntryName.printable(key))\" left \(found == .missing ? "nothing" : "no regular file") at \(temporary); it must write the value there.",
                    path: temporary)
            }
            let (bytes, sha256) = try Self.syncAndHash(temporary)
            try commit(temporary, name: name, bytes: bytes, sha256: sha256)
            return valuePath(name)
        }
    }

    /// The path of the file holding the value of `key`, checked in full
    /// (length and SHA-256, streamed), or `nil` when there is none. A
    /// damaged entry is logged, removed, and reported as `nil`.
    /// The file is read-only and must not be modified.
    /// - Throws: `.usage` for a bad key; `.io` when it cannot be read.
    public func cachedFile(for key: String) throws -> String? {
        let name = try EntryName(key: key)
        switch try lookup(name, load: false) {
        case .valid(let entry): return entry.path
        case .missing: return nil
        case .corrupt: return try withKeyLock(name) { try validEntryUnderLock(name, load: false)?.path }
        }
    }

    /// Stores a copy of the file at `source` (streamed, any size) as the
    /// value of `key`, replacing any value it had. `source` may be a link to
    /// a regular file; it is read once, and must not change meanwhile.
    /// - Throws: `.notFound` when `source` does not exist; `.corrupt` when it
    ///   is not a regular file or changes while it is read; `.usage` for a bad
    ///   key; `.io` when a read or write fails; `.locked` after ``lockTimeout``.
    public func put(_ key: String, contentsOf source: String) throws {
        let name = try EntryName(key: key)
        let input = try FileSystem.openRegularFile(source, O_RDONLY, followingSymlinks: true)
        defer { close(input) }
        try withKeyLock(name) {
            let temporary = try temporaryPath(name, suffix: "bin")
            defer { _ = unlink(temporary) }
            let (bytes, sha256) = try Self.copy(from: input, path: source, toNewFile: temporary)
            try commit(temporary, name: name, bytes: bytes, sha256: sha256)
        }
    }

    /// Copies the descriptor `input` (from its current offset to its end)
    /// into a new file at `destination`, synced; returns its length and SHA-256.
    package static func copy(from input: Int32, path: String, toNewFile destination: String) throws
        -> (bytes: Int64, sha256: String)
    {
        let file = try DurableFile.create(destination)
        var checksum = Checksum()
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR || errno == EAGAIN {
                    if errno == EAGAIN { usleep(1_000) }
                    continue
                }
                throw ResumableError.system("read", path: path, errno: errno)
            }
            if n == 0 { break }
            try chunk.withUnsafeBytes { raw in
                let piece = UnsafeRawBufferPointer(rebasing: raw[0..<n])
                checksum.update(piece)
                try file.write(piece)
            }
        }
        try file.sync()
        try file.close()
        return (file.offset, checksum.finalize())
    }

    /// Syncs a file a computation wrote and returns its length and SHA-256.
    private static func syncAndHash(_ path: String) throws -> (bytes: Int64, sha256: String) {
        let fd = try FileSystem.openRegularFile(path, O_RDONLY)
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw ResumableError.system("read the size of", path: path, errno: errno) }
        let (sha256, _) = try hashDescriptor(fd, path: path, expectedBytes: Int64(st.st_size), keeping: false)
        try FileSystem.sync(path)
        return (Int64(st.st_size), sha256)
    }
}
