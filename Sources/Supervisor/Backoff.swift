/// Exponential backoff between restarts: `initial`, then doubling, capped at `maximum`.
public struct Backoff: Sendable, Hashable, CustomStringConvertible {
    /// Seconds before the first restart.
    public var initial: Double
    /// The longest wait, in seconds.
    public var maximum: Double

    /// A backoff of `initial` seconds doubling up to `maximum` seconds.
    public init(initial: Double = 1, maximum: Double = 60) {
        self.initial = max(0, initial)
        self.maximum = max(self.initial, maximum)
    }

    /// Parses `INITIAL[,MAX]` in seconds (`2`, `0.5,30`); `nil` when malformed or negative.
    /// Without MAX the maximum is the larger of 60 s and INITIAL.
    public init?(parsing text: String) {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map {
            String($0.filter { $0 != " " })
        }
        guard parts.count == 1 || parts.count == 2,
            let initial = Double(parts[0]), initial.isFinite, initial >= 0
        else { return nil }
        var maximum = Swift.max(60, initial)
        if parts.count == 2 {
            guard let m = Double(parts[1]), m.isFinite, m >= initial else { return nil }
            maximum = m
        }
        self.init(initial: initial, maximum: maximum)
    }

    /// The wait before restart number `n` (1-based): `initial × 2^(n-1)`, at most `maximum`.
    public func delay(beforeRestart n: Int) -> Double {
        guard n > 1 else { return initial }
        var delay = initial
        for _ in 1..<Swift.min(n, 64) where delay < maximum { delay *= 2 }
        return Swift.min(maximum, delay)
    }

    /// `1s doubling up to 60s`.
    public var description: String { "\(initial)s doubling up to \(maximum)s" }
}
