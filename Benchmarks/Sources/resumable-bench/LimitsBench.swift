import Resumable
import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// The machine's memory limit: `memcpy` between two touched 256 MiB buffers.
/// (The disk limit, `dd … conv=fsync`, is measured by compare.sh.)
enum LimitsBench {
    static func memcpy(_ options: Options) {
        let size = 256 << 20
        let a = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 4096)
        let b = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 4096)
        defer { a.deallocate(); b.deallocate() }
        StateContents.fill(a, tensor: 0, firstElement: 0)
        b.initializeMemory(as: UInt8.self, repeating: 1)
        var seconds: [Double] = []
        for _ in 0..<max(options.reps, 5) {
            seconds.append(Measurement.time { Glibc.memcpy(b.baseAddress!, a.baseAddress!, size) })
        }
        Result(method: "memcpy", phase: "limit", state: "256MiB", bytes: size, seconds: seconds).emit()
    }
}

extension LimitsBench {
    /// SHA-256 bandwidth of one core (the library's `Checksum`).
    static func sha256(_ options: Options) {
        let size = 256 << 20
        let a = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 4096)
        defer { a.deallocate() }
        StateContents.fill(a, tensor: 0, firstElement: 0)
        var seconds: [Double] = []
        for _ in 0..<max(options.reps, 3) {
            seconds.append(Measurement.time { _ = Checksum.sha256(UnsafeRawBufferPointer(a)) })
        }
        Result(method: "sha256", phase: "limit", state: "256MiB", bytes: size, seconds: seconds).emit()
    }
}

extension LimitsBench {
    /// What an asynchronous save's snapshot is up against: `memcpy` on every
    /// core into a buffer that was last written 2.5 s before (as a snapshot
    /// buffer is between saves). Writing memory that sat idle is slower here
    /// than writing memory just written.
    static func memcpyIdle(_ options: Options) {
        let size = 512 << 20
        let piece = 8 << 20
        let a = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 2 << 20)
        let b = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 2 << 20)
        defer { a.deallocate(); b.deallocate() }
        _ = madvise(b.baseAddress!, size, MADV_HUGEPAGE)
        StateContents.fill(a, tensor: 0, firstElement: 0)
        b.initializeMemory(as: UInt8.self, repeating: 1)
        nonisolated(unsafe) let from = a.baseAddress!
        nonisolated(unsafe) let to = b.baseAddress!
        var seconds: [Double] = []
        for _ in 0..<3 {
            usleep(2_500_000)
            seconds.append(Measurement.time {
                DispatchQueue.concurrentPerform(iterations: size / piece) { i in
                    Glibc.memcpy(to + i * piece, from + i * piece, piece)
                }
            })
        }
        Result(method: "memcpy-idle", phase: "limit", state: "512MiB", bytes: size, seconds: seconds).emit()
    }
}
