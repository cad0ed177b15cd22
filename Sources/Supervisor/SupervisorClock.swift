import Glibc

/// Time for the supervisor: a monotonic "now" and a pause, injectable so
/// that tests need not wait out real backoff delays.
public protocol SupervisorClock: Sendable {
    /// Seconds on a monotonic clock (only differences mean anything).
    func now() -> Double
    /// Waits `seconds` (called in short slices, so signals are seen between them).
    func pause(_ seconds: Double)
}

/// The real clock: `CLOCK_MONOTONIC` and `nanosleep`.
public struct SystemSupervisorClock: SupervisorClock {
    /// The real clock.
    public init() {}

    /// Seconds on `CLOCK_MONOTONIC`.
    public func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// Sleeps for `seconds`.
    public func pause(_ seconds: Double) {
        guard seconds > 0 else { return }
        var request = timespec(tv_sec: Int(seconds), tv_nsec: Int((seconds - Double(Int(seconds))) * 1e9))
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
    }
}
