#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import CSystemShims

/// A file being written: every write is complete or throws, `sync()` makes it
/// durable, and the descriptor is closed exactly once.
///
/// It is a programmer error to use a `DurableFile` from two threads at once.
public final class DurableFile: @unchecked Sendable {
    /// The path the file was created at.
    public let path: String
    private var descriptor: Int32
    /// Bytes written so far.
    public private(set) var offset: Int64 = 0
    private var syncedRangeEnd: Int64 = 0

    private init(path: String, descriptor: Int32) {
        self.path = path
        self.descriptor = descriptor
    }

    deinit {
        if descriptor >= 0 { Glibc.close(descriptor) }
    }

    /// Creates a new file; an existing file at `path` is an error (`O_EXCL`).
    public static func create(_ path: String) throws -> DurableFile {
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
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
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
            case .failure(let e): throw ResumableError.system("write", path: path, errno: e.rawValue)
            case .success(0): throw ResumableError.system("write", path: path, errno: EIO)
            case .success(let written):
                remaining -= written
                base += written
                offset += Int64(written)
            }
        }
    }

    /// Writes bytes of an array.
    public func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { (raw: UnsafeRawBufferPointer) throws in try write(raw) }
    }

    /// Asks the kernel to start writing back what was written so far, without
    /// waiting, so the final `sync()` has less left to do. Failures are ignored:
    /// this is only a hint, and `sync()` is what guarantees durability.
    public func startWriteback() {
        #if os(Linux)
        let length = offset - syncedRangeEnd
        guard length > 0 else { return }
        _ = resumable_sync_file_range_write(descriptor, syncedRangeEnd, length)
        syncedRangeEnd = offset
        #endif
    }

    /// Flushes the file's data and metadata to stable storage.
    public func sync() throws {
        try FileSystem.syncDescriptor(descriptor, path: path)
    }

    /// Closes the file, reporting a deferred write error if the kernel has one.
    public func close() throws {
        guard descriptor >= 0 else { return }
        let fd = descriptor
        descriptor = -1
        if Glibc.close(fd) != 0 && errno != EINTR { throw ResumableError.system("close", path: path, errno: errno) }
    }
}
