import Dispatch

/// Runs independent pieces of work at once (the shards of a save, the files
/// of a verification), carrying the caller's fault-injection scope to the
/// worker threads.
package enum Parallel {
    /// The most threads `map` starts.
    static let maxWidth = 16

    /// `body` applied to every element, each element on a thread of its own
    /// (up to 16 at a time, elements beyond that taken in turn), so work that
    /// must progress together — shards whose hashes are paired — does; each
    /// element's outcome, in order. Every element runs, even after another
    /// failed.
    package static func map<T, R>(_ items: [T], _ body: (T) throws -> R) -> [Result<R, any Error>] {
        if items.count == 1 { return [Result { try body(items[0]) }] }
        // Each element's slot is written by one thread only.
        let slots = UnsafeMutableBufferPointer<Result<R, any Error>>.allocate(capacity: items.count)
        defer { slots.deallocate() }
        let scope = FaultScope.capture()
        let width = min(items.count, maxWidth)
        withoutActuallyEscaping(body) { body in
            nonisolated(unsafe) let body = body
            nonisolated(unsafe) let items = items
            nonisolated(unsafe) let slots = slots
            let run: @Sendable (Int) -> Void = { lane in
                FaultScope.restoring(scope) {
                    for i in stride(from: lane, to: items.count, by: width) {
                        (slots.baseAddress! + i).initialize(to: Result { try body(items[i]) })
                    }
                }
            }
            let done = DispatchGroup()
            var threads: [WorkerThread] = []
            for lane in 1..<width {
                guard let thread = WorkerThread() else {
                    run(lane)  // no thread to be had: this lane runs here
                    continue
                }
                done.enter()
                thread.async {
                    run(lane)
                    done.leave()
                }
                threads.append(thread)
            }
            run(0)
            done.wait()
            for thread in threads { thread.finish() }
        }
        let results = Array(slots)
        _ = slots.deinitialize()
        return results
    }
}
