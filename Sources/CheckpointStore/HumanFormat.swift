#if canImport(Glibc)
import Glibc
#endif
import DurableFiles

/// Numbers, sizes and times written for people (status rows, tables).
package enum HumanFormat {
    /// `512 B`, `1.5 KiB`, `3.2 GiB`.
    package static func bytes(_ count: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
        var value = Double(count)
        var unit = 0
        while abs(value) >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        if unit == 0 { return "\(count) B" }
        return printf(value < 10 ? "%.1f" : "%.0f", value) + " " + units[unit]
    }

    /// A duration as its largest unit: `45s`, `12m`, `3h`, `9d`.
    package static func age(seconds: Double) -> String {
        guard seconds.isFinite else { return "?" }
        let s = max(0, seconds)
        if s < 60 { return "\(Int(s))s" }
        if s < 3600 { return "\(Int(s / 60))m" }
        if s < 86400 { return "\(Int(s / 3600))h" }
        return "\(Int(s / 86400))d"
    }

    /// The age of an RFC 3339 timestamp relative to now, or `?`.
    package static func age(of timestamp: String, now: Double = Timestamp.currentTime()) -> String {
        guard let t = Timestamp.parse(timestamp) else { return "?" }
        return age(seconds: now - t)
    }

    /// A number with up to six significant digits: `0.0123`, `1.5e-07`, `42`.
    package static func number(_ value: Double) -> String {
        if value.isNaN { return "nan" }
        if value.isInfinite { return value > 0 ? "inf" : "-inf" }
        return printf("%.6g", value)
    }

    /// One number through C's `snprintf` (the `%g`/`%f` rules people know).
    private static func printf(_ format: String, _ value: Double) -> String {
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: 64) { buffer in
            let n = withVaList([value]) { vsnprintf(buffer.baseAddress, buffer.count, format, $0) }
            guard n >= 0 else { return "\(value)" }
            return String(decoding: UnsafeRawBufferPointer(start: buffer.baseAddress, count: min(Int(n), buffer.count - 1)), as: UTF8.self)
        }
    }

    /// Metrics as `name=value` pairs sorted by name.
    package static func metrics(_ metrics: [String: Double]) -> String {
        metrics.keys.sorted().map { "\($0)=\(number(metrics[$0]!))" }.joined(separator: " ")
    }
}
