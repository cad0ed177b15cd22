import Resumable
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
