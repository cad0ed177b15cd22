import Glibc
import CSystemShims

/// A file being written: every write is complete or throws, `sync()` makes it
/// durable, and the descriptor is closed exactly once.
///
/// It is a programmer error to use a `DurableFile` from two threads at once,
/// so it is not `Sendable`: a ``ChecksummingWriter`` owns its file and hands
/// blocks to its I/O thread in order, joining it before it syncs and closes.
package final class DurableFile {
    /// The path the file was created at.
    package let path: String
    private var descriptor: Int32
    /// Bytes written so far.
    package private(set) var offset: Int64 = 0
    private var syncedRangeEnd: Int64 = 0
    /// Whether writes currently bypass the page cache (`O_DIRECT`).
    package private(set) var isDirect = false
    private var directUnsupported = false
    /// Bytes written with direct I/O so far.
    package private(set) var directBytesWritten: Int64 = 0

    /// The alignment (address, length and file offset) a block needs to be
    /// written with direct I/O.
    package static let directIOAlignment = 4096

    /// Whether direct I/O may be used: set `RESUMABLE_DIRECT_IO=0` to write
    /// through the page cache always.
    package static let directIOAllowed: Bool = {
        guard let value = getenv("RESUMABLE_DIRECT_IO") else { return true }
        return String(cString: value) != "0"
    }()

    private init(path: String, descriptor: Int32) {
        self.path = path
        self.descriptor = descriptor
    }

    deinit {
        if descriptor >= 0 { Glibc.close(descriptor) }
    }

    /// Creates a new file; an existing file at `path` is an error (`O_EXCL`).
    package static func create(_ path: String) throws -> DurableFile {
        if let fault = FaultInjection.check(.open) {
            throw ResumableError.system("create", path: path, errno: fault.errno, creating: true)
        }
        let result = retryingInterrupts { open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644) }
        switch result {
        case .success(let fd): return DurableFile(path: path, descriptor: fd)
        case .failure(let e): throw ResumableError.system("create", path: path, errno: e.rawValue, creating: true)
        }
    }

    /// Writes all of `bytes` at the end of what was written, retrying short writes.
    /// - Throws: `.io` with the errno when the disk is full or the write fails.
    package func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard var base = bytes.baseAddress else { return }
        var remaining = bytes.count
        if let fault = FaultInjection.check(.write) {
            if fault.short && remaining > 1 {
                let half = remaining / 2
                _ = Glibc.write(descriptor, base, half)
                offset += Int64(half)
            }
            throw ResumableError.system("write", path: path, errno: fault.errno)
        }
        while remaining > 0 {
            let n = retryingInterrupts { Glibc.write(descriptor, base, min(remaining, 1 << 30)) }
            switch n {
            case .failure(let e) where e.rawValue == EINVAL && isDirect:
                // This file system (or this piece) refuses direct I/O: go on through the page cache.
                directUnsupported = true
                setDirect(false)
            case .failure(let e): throw ResumableError.system("write", path: path, errno: e.rawValue)
            case .success(0): throw ResumableError.system("write", path: path, errno: EIO)
            case .success(let written):
                remaining -= written
                base += written
                offset += Int64(written)
            }
        }
    }

    /// Writes one block of a large stream: straight to the device, bypassing
    /// the page cache (`O_DIRECT`), when the block, its length and the file
    /// offset are aligned and the file system allows it; through the page
    /// cache otherwise. Direct writes cost the processor almost nothing (the
    /// device copies from the caller's memory), leave no dirty pages behind
    /// and do not evict the training job's cached data. `sync()` is still
    /// what makes them durable.
    package func writeBlock(_ bytes: UnsafeRawBufferPointer) throws {
        let a = Self.directIOAlignment
        let aligned = bytes.count % a == 0 && offset % Int64(a) == 0
            && Int(bitPattern: bytes.baseAddress) % a == 0
        setDirect(aligned && Self.directIOAllowed && !directUnsupported)
        let before = offset
        try write(bytes)
        if isDirect { directBytesWritten += offset - before }
    }

    private func setDirect(_ on: Bool) {
        guard on != isDirect else { return }
        if resumable_set_direct_io(descriptor, on ? 1 : 0) == 0 {
            isDirect = on
        } else if on {
            directUnsupported = true
        }
    }

    /// Writes bytes of an array.
    package func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { (raw: UnsafeRawBufferPointer) throws in try write(raw) }
    }

    /// Asks the kernel to start writing back what was written so far, without
    /// waiting, so the final `sync()` has less left to do. Failures are ignored:
    /// this is only a hint, and `sync()` is what guarantees durability.
    package func startWriteback() {
        #if os(Linux)
        guard !isDirect else { return }
        let length = offset - syncedRangeEnd
        guard length > 0 else { return }
        _ = resumable_sync_file_range_write(descriptor, syncedRangeEnd, length)
        syncedRangeEnd = offset
        #endif
    }

    /// Flushes the file's data and metadata to stable storage.
    package func sync() throws {
        try FileSystem.syncDescriptor(descriptor, path: path)
    }

    /// Closes the file, reporting a deferred write error if the kernel has one.
    package func close() throws {
        guard descriptor >= 0 else { return }
        let fd = descriptor
        descriptor = -1
        if Glibc.close(fd) != 0 && errno != EINTR { throw ResumableError.system("close", path: path, errno: errno) }
    }
}
