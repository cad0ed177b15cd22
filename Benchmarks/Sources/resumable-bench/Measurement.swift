#if canImport(Glibc)
import Glibc
#endif
import Resumable

/// The measuring protocol of docs/PERFORMANCE.md: monotonic time, page-cache
/// dropping, peak resident memory, one JSON line per result.
enum Measurement {
    /// Seconds on the monotonic clock.
    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// Runs `body` and returns the seconds it took.
    static func time(_ body: () throws -> Void) rethrows -> Double {
        let start = now()
        try body()
        return now() - start
    }

    /// CPU seconds used by this process so far (user, system), all threads.
    static func cpu() -> (user: Double, system: Double) {
        var u = rusage()
        getrusage(RUSAGE_SELF.rawValue, &u)
        func s(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
        return (s(u.ru_utime), s(u.ru_stime))
    }

    /// With `BENCH_CPU=1`, prints an operation's wall and CPU seconds to stderr.
    static func reportCPU(
        _ what: String, seconds: Double, from start: (user: Double, system: Double), to end: (user: Double, system: Double)
    ) {
        guard getenv("BENCH_CPU") != nil else { return }
        let line = "\(what) wall \(seconds) user \(end.user - start.user) sys \(end.system - start.system)\n"
        _ = line.withCString { Glibc.write(2, $0, strlen($0)) }
    }

    /// The median of `values`.
    static func median(_ values: [Double]) -> Double {
        let s = values.sorted()
        guard !s.isEmpty else { return .nan }
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    /// Flushes dirty pages (`sync`).
    static func syncAll() { Glibc.sync() }

    /// Empties the page cache: `sync; echo 3 > /proc/sys/vm/drop_caches`
    /// (root only). Without root, `files` are evicted with `posix_fadvise`.
    /// Returns how: "drop_caches" or "fadvise".
    @discardableResult
    static func dropCaches(files: [String]) -> String {
        Glibc.sync()
        let fd = open("/proc/sys/vm/drop_caches", O_WRONLY)
        if fd >= 0 {
            let ok = write(fd, "3\n", 2) == 2
            close(fd)
            if ok { return "drop_caches" }
        }
        for f in files {
            let fd = open(f, O_RDONLY)
            if fd >= 0 {
                _ = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED)
                close(fd)
            }
        }
        return "fadvise"
    }

    /// A value from /proc/self/status in bytes (`VmRSS`, `VmHWM`).
    static func status(_ key: String) -> Int {
        guard let bytes = try? Files.read("/proc/self/status") else { return 0 }
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") where line.hasPrefix(key + ":") {
            let digits = line.dropFirst(key.count + 1).filter { $0.isNumber }
            return (Int(digits) ?? 0) * 1024
        }
        return 0
    }

    /// Resets the peak resident set size to the current one (`echo 5 > /proc/self/clear_refs`).
    static func resetPeak() {
        let fd = open("/proc/self/clear_refs", O_WRONLY)
        guard fd >= 0 else { return }
        _ = write(fd, "5\n", 2)
        close(fd)
    }

    /// Removes `path` if present, then syncs (the untimed part before a save).
    static func clear(_ path: String) throws {
        if Files.exists(path) { try Files.removeTree(path) }
        Glibc.sync()
    }

    /// Touches one byte per 4 KiB page and returns their sum (so it is not optimised away).
    static func touch(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var sum: UInt64 = 0
        var i = 0
        while i < bytes.count {
            sum &+= UInt64(bytes[i])
            i += 4096
        }
        return sum
    }
}

/// One measured quantity, printed as a JSON line on stdout.
struct Result {
    var method: String
    var phase: String
    var state: String
    /// Payload bytes per run.
    var bytes: Int
    var seconds: [Double]
    /// Peak resident memory above what the process held before the timed runs.
    var peakExtraBytes: Int?
    var note: String?

    func emit() {
        let med = Measurement.median(seconds)
        var o: [String: JSONValue] = [
            "method": .string(method), "phase": .string(phase), "state": .string(state),
            "bytes": .int(Int64(bytes)), "seconds": .array(seconds.map { .number($0) }),
            "median_s": .number(med),
            "gbps": .number(bytes > 0 ? Double(bytes) / med / 1e9 : 0),
        ]
        if let peakExtraBytes { o["peak_extra_mib"] = .number(Double(peakExtraBytes) / 1048576) }
        if let note { o["note"] = .string(note) }
        var line = JSONValue.object(o).serialized() + "\n"
        line.withUTF8 { _ = write(1, $0.baseAddress, $0.count) }
    }
}

/// A problem that stops a benchmark: a warm-up whose content does not verify.
struct BenchFailure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// Writes a line to standard error (progress; results go to standard output).
func report(_ line: String) {
    var text = line + "\n"
    text.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}
