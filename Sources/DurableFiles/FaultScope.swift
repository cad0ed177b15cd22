import Synchronization

/// A fault armed for one piece of work only: the calls `run`'s body makes
/// (and the threads `ChecksummingWriter` hands its writes to) see it, while
/// work in other tasks of the same process does not. Debug builds only; in
/// release builds nothing fails.
///
/// `FaultInjection.arm` arms a fault for the whole process, so a test using it
/// makes every test running beside it fail at random; tests use a scope:
///
/// ```swift
/// let scope = FaultScope(FaultInjection.Fault(point: .fsync, nth: 2, errno: EIO))
/// #expect(throws: ResumableError.self) { try scope.run { try store.commit(step: 3) { … } } }
/// #expect(scope.triggered)
/// ```
package final class FaultScope: Sendable {
    /// The armed fault.
    package let fault: FaultInjection.Fault
    private let state = Mutex(State())

    private struct State {
        var counts: [FaultPoint: Int] = [:]
        var triggered = false
    }

    /// The scope of the current task, if any.
    @TaskLocal static var current: FaultScope?

    /// A scope that makes the `fault.nth` call of `fault.point` fail.
    package init(_ fault: FaultInjection.Fault) { self.fault = fault }

    /// Runs `body` with the fault armed for it.
    package func run<T>(_ body: () throws -> T) rethrows -> T {
        try FaultScope.$current.withValue(self) { try body() }
    }

    /// Whether the fault has fired.
    package var triggered: Bool { state.withLock { $0.triggered } }

    /// How many calls of `point` the body made (counted only for the armed point).
    package func count(of point: FaultPoint) -> Int { state.withLock { $0.counts[point, default: 0] } }

    func check(_ point: FaultPoint) -> FaultInjection.Fault? {
        guard point == fault.point else { return nil }
        return state.withLock { s -> FaultInjection.Fault? in
            s.counts[point, default: 0] += 1
            guard s.counts[point] == fault.nth else { return nil }
            s.triggered = true
            return fault
        }
    }

    /// The calling task's scope, to hand to `restoring` on another thread.
    static func capture() -> FaultScope? {
        #if RESUMABLE_FAULT_INJECTION
        return current
        #else
        return nil
        #endif
    }

    /// Runs `body`, on whatever thread, under `scope` (from `capture()`).
    static func restoring(_ scope: FaultScope?, _ body: () -> Void) {
        #if RESUMABLE_FAULT_INJECTION
        if let scope {
            $current.withValue(scope) { body() }
            return
        }
        #endif
        body()
    }
}
