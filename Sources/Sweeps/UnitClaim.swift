import Glibc
import Synchronization

/// A held claim on a unit: the exclusive `flock` on `claims/KEY` that makes
/// the calling process the only one running the unit (``SweepStore/claim(_:)``).
///
/// Released by ``release()``, when the claim is deallocated, or by the
/// kernel when the process dies; the descriptor is close-on-exec, so the
/// unit's command does not inherit it.
public final class UnitClaim: Sendable {
    /// The unit's key.
    public let key: String
    /// The claim file.
    public let path: String
    /// The locked descriptor; -1 once released.
    private let descriptor: Mutex<Int32>

    init(key: String, path: String, descriptor: Int32) {
        self.key = key
        self.path = path
        self.descriptor = Mutex(descriptor)
    }

    deinit { release() }

    /// Whether the claim is still held by this value.
    public var isHeld: Bool { descriptor.withLock { $0 >= 0 } }

    /// Releases the claim (unlock and close). Releasing twice does nothing.
    public func release() {
        descriptor.withLock { fd in
            guard fd >= 0 else { return }
            flock(fd, LOCK_UN)
            close(fd)
            fd = -1
        }
    }
}
