import Dispatch

/// Runs independent pieces of work on all cores (the shards of a save),
/// carrying the caller's fault-injection scope to the worker threads.
public enum Parallel {
    /// `body` applied to every element, at most one element per core at a
    /// time; each element's outcome, in order. Every element runs, even after
    /// another failed.
    public static func map<T, R>(_ items: [T], _ body: (T) throws -> R) -> [Result<R, any Error>] {
        if items.count == 1 { return [Result { try body(items[0]) }] }
        // Each iteration writes only its own slot.
        let slots = UnsafeMutableBufferPointer<Result<R, any Error>>.allocate(capacity: items.count)
        defer { slots.deallocate() }
        let scope = FaultScope.capture()
        withoutActuallyEscaping(body) { body in
            nonisolated(unsafe) let body = body
            nonisolated(unsafe) let items = items
            nonisolated(unsafe) let slots = slots
            DispatchQueue.concurrentPerform(iterations: items.count) { i in
                FaultScope.restoring(scope) {
                    (slots.baseAddress! + i).initialize(to: Result { try body(items[i]) })
                }
            }
        }
        let results = Array(slots)
        _ = slots.deinitialize()
        return results
    }
}
