import CSystemShims
import DurableFiles
import Glibc

/// A short command run to its end with its output captured: a pipeline's
/// `preflight:` checks.
///
/// The command is the leader of a process group of its own, runs in a given
/// directory with a given environment and `/dev/null` as stdin; its stdout
/// and stderr go into one pipe, of which the last ``outputLimit`` bytes are
/// kept. It never blocks its caller for longer than the timeout and the
/// grace periods: at the timeout the whole process group gets SIGTERM, then
/// SIGKILL after `killGrace` seconds, and reading stops, even when a process
/// the command started still holds the pipe open. When the command exits
/// but something it left behind keeps the pipe open for `leftoverGrace`
/// seconds, its process group is killed (SIGKILL) and reading stops.
///
/// The leader is collected only at the end (it is watched with `waitid`
/// and `WNOWAIT`), so its pid, and with it the process group's id, cannot
/// be reused by an unrelated process while signals are sent to the group.
package struct CapturedCommand: Sendable, Equatable {
    /// How the command ended.
    package enum Ending: Sendable, Equatable {
        /// It exited with this code.
        case exited(Int32)
        /// A signal killed it.
        case signaled(Int32)
        /// It still ran after the timeout (in seconds) and was stopped.
        case timedOut(Double)
        /// It could not be started: why.
        case cannotStart(String)
    }

    /// At most this many bytes of output are kept: the last ones.
    static let outputLimit = 64 << 10

    /// Signals set back to their default action in the command (ignored or
    /// handled ones would otherwise stay ignored across exec).
    static let defaultSignals: [Int32] = [
        SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGPIPE, SIGALRM, SIGCHLD, SIGXCPU, SIGXFSZ, SIGTTIN, SIGTTOU,
    ]

    package var ending: Ending
    /// The last (at most ``outputLimit``) bytes of stdout and stderr, interleaved as written.
    package var output: [UInt8]
    /// Seconds from start to end.
    var seconds: Double
    /// Whether processes it left behind held its output open after it exited, and were killed.
    var killedLeftovers = false

    /// Runs `arguments` (the program searched in `PATH` when it has no slash)
    /// in `directory` with exactly `environment`.
    package static func run(
        _ arguments: [String], environment: [String: String], directory: String, timeout: Double,
        killGrace: Double = 2, leftoverGrace: Double = 1
    ) -> CapturedCommand {
        let start = monotonicNow()
        guard let program = arguments.first, !program.isEmpty else {
            return CapturedCommand(ending: .cannotStart("the command is empty"), output: [], seconds: 0)
        }
        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var fd: Int32 = -1
        var code: Int32 = 0
        var stage: Int32 = 0
        let pid = directory.withCString { dir in
            resumable_spawn_captured(
                program, argv, envp, dir, defaultSignals, Int32(defaultSignals.count), &fd, &code, &stage)
        }
        guard pid > 0 else {
            let reason = String(cString: strerror(code))
            let why: String
            switch stage {
            case 1: why = "cannot enter \(directory): \(reason)"
            case 2: why = "\(program): \(reason)"
            default: why = reason
            }
            return CapturedCommand(ending: .cannotStart(why), output: [], seconds: monotonicNow() - start)
        }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)

        var tail = OutputTail(limit: outputLimit)
        var pipeOpen = true
        var exitedAt: Double?
        var terminatedAt: Double?
        var killGroup = false
        let deadline = start + timeout
        var chunk = [UInt8](repeating: 0, count: 16 << 10)

        func drain() {
            while pipeOpen {
                let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n > 0 {
                    tail.append(chunk[0..<n])
                } else if n == 0 {
                    pipeOpen = false
                } else if errno != EINTR {
                    if errno != EAGAIN && errno != EWOULDBLOCK { pipeOpen = false }
                    return
                }
            }
        }

        while true {
            let now = monotonicNow()
            // -1: not our child any more (cannot happen); treated as ended so the loop ends.
            if exitedAt == nil, resumable_child_has_exited(pid) != 0 { exitedAt = now }
            if exitedAt != nil && !pipeOpen { break }
            if let terminatedAt {
                if now - terminatedAt >= killGrace {
                    killGroup = true
                    break
                }
            } else if exitedAt == nil && now >= deadline {
                // Timed out: the whole group gets SIGTERM, SIGKILL after the grace.
                _ = kill(-pid, SIGTERM)
                terminatedAt = now
                continue
            } else if let exitedAt, now - exitedAt >= leftoverGrace {
                // It ended, and something it left behind holds the pipe open.
                killGroup = true
                break
            }
            if pipeOpen {
                var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                _ = poll(&pfd, 1, 20)
                drain()
            } else {
                usleep(10_000)
            }
        }
        if killGroup || terminatedAt != nil { _ = kill(-pid, SIGKILL) }
        drain()
        close(fd)

        // Collect the leader: at once when it has ended; after SIGKILL within a
        // bound (a process stuck in the kernel is left rather than waited for).
        var status: Int32 = 0
        var collected = false
        let reapDeadline = monotonicNow() + 5
        while true {
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid {
                collected = true
                break
            }
            if r < 0 && errno != EINTR { break }
            if monotonicNow() >= reapDeadline { break }
            usleep(5_000)
        }
        // Members of the group that became this process's children (a subreaper adopts orphans).
        var other: Int32 = 0
        while waitpid(-pid, &other, WNOHANG) > 0 {}

        let seconds = monotonicNow() - start
        let leftovers = killGroup && terminatedAt == nil
        if terminatedAt != nil { return CapturedCommand(ending: .timedOut(timeout), output: tail.bytes, seconds: seconds) }
        guard collected else {
            return CapturedCommand(ending: .signaled(SIGKILL), output: tail.bytes, seconds: seconds)
        }
        // WIFEXITED / WEXITSTATUS / WTERMSIG are macros Swift cannot import.
        let signal = status & 0x7F
        let ending: Ending = signal == 0 ? .exited((status >> 8) & 0xFF) : .signaled(signal)
        return CapturedCommand(ending: ending, output: tail.bytes, seconds: seconds, killedLeftovers: leftovers)
    }

    /// Seconds on `CLOCK_MONOTONIC`.
    static func monotonicNow() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// The last `count` lines of the output that are not blank, each with
    /// its control characters escaped and cut to `width` characters.
    package func lastLines(_ count: Int, width: Int = 300) -> [String] {
        var lines: [String] = []
        // Split on the bytes: in a String, "\r\n" is one Character, not a "\n".
        for raw in output.split(separator: 0x0A, omittingEmptySubsequences: true).reversed() {
            let bytes = raw.last == 0x0D ? raw.dropLast() : raw
            let line = String(decoding: bytes, as: UTF8.self)
            if line.unicodeScalars.allSatisfy({ $0.properties.isWhitespace }) { continue }
            var escaped = Self.escapingControlCharacters(line)
            if escaped.count > width { escaped = String(escaped.prefix(width)) + "…" }
            lines.append(escaped)
            if lines.count == count { break }
        }
        return lines.reversed()
    }

    /// `text` with every control character (C0 including tab, DEL, C1) shown
    /// as `\xHH` or `\u{HHHH}`, so output cannot steer a terminal or split a line.
    static func escapingControlCharacters(_ text: String) -> String {
        func isControl(_ v: UInt32) -> Bool { v < 0x20 || v == 0x7F || (0x80...0x9F).contains(v) }
        guard text.unicodeScalars.contains(where: { isControl($0.value) }) else { return text }
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            guard isControl(scalar.value) else {
                out.append(scalar)
                continue
            }
            let hex = String(scalar.value, radix: 16)
            let escaped = scalar.value <= 0x7F ? "\\x" + (hex.count < 2 ? "0" : "") + hex : "\\u{" + hex + "}"
            out.append(contentsOf: escaped.unicodeScalars)
        }
        return String(out)
    }
}

/// The last `limit` bytes of a stream.
struct OutputTail {
    let limit: Int
    private var storage: [UInt8] = []

    init(limit: Int) { self.limit = limit }

    mutating func append(_ bytes: ArraySlice<UInt8>) {
        storage.append(contentsOf: bytes)
        // Trim in batches: at most 2 × limit is ever held.
        if storage.count > 2 * limit { storage.removeFirst(storage.count - limit) }
    }

    var bytes: [UInt8] { storage.count > limit ? Array(storage.suffix(limit)) : storage }
}
