import Glibc

/// Runs a system call, retrying while it fails with EINTR.
/// Returns the result, or the errno on failure.
@inline(__always)
func retryingInterrupts<T: BinaryInteger>(_ body: () -> T) -> Result<T, Errno> {
    while true {
        let result = body()
        if result >= 0 { return .success(result) }
        let code = errno
        if code == EINTR { continue }
        return .failure(Errno(rawValue: code))
    }
}

/// An errno value, the typed error of the system-call layer.
package struct Errno: Error, Hashable, Sendable {
    package var rawValue: Int32
    package init(rawValue: Int32) { self.rawValue = rawValue }
}
