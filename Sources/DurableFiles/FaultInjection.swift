import Glibc
import Synchronization

/// A system operation that tests can make fail.
package enum FaultPoint: String, Sendable, CaseIterable {
    case open, write, fsync, rename, mkdir, unlink
}

/// Fault injection for tests, compiled in only when the package is built
/// with `RESUMABLE_FAULT_INJECTION=1` in the environment (scripts/test.sh
/// does; Package.swift then defines the condition of the same name). Nobody
/// else's build, debug or release, contains it: a user's program never reads
/// `RESUMABLE_FAULT`.
///
/// When compiled in, the environment variable `RESUMABLE_FAULT` (read once at
/// start) or `FaultInjection.arm` makes the n-th call of one operation fail:
/// `RESUMABLE_FAULT=fsync:3:EIO` fails the third fsync with EIO;
/// `write:2:short` makes the second write stop half-way and then report ENOSPC,
/// as a full disk does. Otherwise every check compiles to nothing.
package enum FaultInjection {
    /// Whether this build can inject faults (built with `RESUMABLE_FAULT_INJECTION=1`).
    package static var isCompiled: Bool {
        #if RESUMABLE_FAULT_INJECTION
        return true
        #else
        return false
        #endif
    }

    /// One armed fault.
    package struct Fault: Sendable, Equatable {
        package var point: FaultPoint
        /// 1-based count of the call that fails.
        package var nth: Int
        /// The errno it fails with.
        package var errno: Int32
        /// For writes: write half the bytes first, then fail.
        package var short: Bool

        package init(point: FaultPoint, nth: Int, errno: Int32, short: Bool = false) {
            self.point = point
            self.nth = nth
            self.errno = errno
            self.short = short
        }
    }

    private struct State {
        var fault: Fault?
        var counts: [FaultPoint: Int] = [:]
        var triggered = false
        var loadedEnvironment = false
    }

    private static let state = Mutex(State())

    /// Arms one fault, resetting call counts. Debug builds only; a no-op in release.
    package static func arm(_ fault: Fault?) {
        state.withLock {
            $0.fault = fault
            $0.counts = [:]
            $0.triggered = false
            $0.loadedEnvironment = true
        }
    }

    /// Whether the armed fault has fired since it was armed.
    package static var triggered: Bool { state.withLock { $0.triggered } }

    /// How many calls of each operation were seen since arming (debug builds).
    package static func count(of point: FaultPoint) -> Int { state.withLock { $0.counts[point, default: 0] } }

    /// Parses `POINT:N:ERRNO` where ERRNO is a name (EIO, ENOSPC) or `short`.
    package static func parse(_ text: String) -> Fault? {
        let parts = text.split(separator: ":").map(String.init)
        guard parts.count == 3, let point = FaultPoint(rawValue: parts[0]), let nth = Int(parts[1]), nth > 0 else {
            return nil
        }
        switch parts[2] {
        case "EIO": return Fault(point: point, nth: nth, errno: EIO)
        case "ENOSPC": return Fault(point: point, nth: nth, errno: ENOSPC)
        case "EDQUOT": return Fault(point: point, nth: nth, errno: EDQUOT)
        case "EACCES": return Fault(point: point, nth: nth, errno: EACCES)
        case "short": return Fault(point: point, nth: nth, errno: ENOSPC, short: true)
        default: return nil
        }
    }

    /// The free bytes `FileSystem.availableBytes(at:)` reports instead of
    /// asking `statvfs`: `RESUMABLE_FAULT_FREE_BYTES=N` in the environment of a
    /// build with fault injection compiled in; `nil` otherwise (always in
    /// release builds). Simulates a full disk for `resumable preflight`.
    package static var availableBytesOverride: Int64? {
        #if RESUMABLE_FAULT_INJECTION
        guard let text = getenv("RESUMABLE_FAULT_FREE_BYTES") else { return nil }
        return Int64(String(cString: text))
        #else
        return nil
        #endif
    }

    /// Called before each wrapped system call; returns the fault to apply, if any.
    ///
    /// A fault armed by `FaultScope.run` for the current task wins over the
    /// process-wide one (`arm`, `RESUMABLE_FAULT`), and calls made in other
    /// tasks never see it.
    @inline(__always)
    static func check(_ point: FaultPoint) -> Fault? {
        #if RESUMABLE_FAULT_INJECTION
        if let scope = FaultScope.current { return scope.check(point) }
        return state.withLock { s -> Fault? in
            if !s.loadedEnvironment {
                s.loadedEnvironment = true
                if let spec = getenv("RESUMABLE_FAULT") { s.fault = parse(String(cString: spec)) }
            }
            guard let fault = s.fault, fault.point == point else { return nil }
            s.counts[point, default: 0] += 1
            guard s.counts[point] == fault.nth else { return nil }
            s.triggered = true
            return fault
        }
        #else
        return nil
        #endif
    }
}
