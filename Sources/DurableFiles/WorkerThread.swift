#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch
import Synchronization

/// A thread of its own that runs jobs in the order they are given, for the
/// stages of a pipelined write: unlike a dispatch queue, it never waits for a
/// slot in a shared thread pool, so the stages of several files written at
/// once all run in parallel. The thread ends after `finish()`.
final class WorkerThread: Sendable {
    private let jobs = Mutex<[@Sendable () -> Void]>([])
    private let pending = DispatchSemaphore(value: 0)
    private let done = DispatchSemaphore(value: 0)
    private let stopping = Atomic<Bool>(false)

    /// A new thread, or `nil` when the system has no thread to give.
    init?() {
        let box = Unmanaged.passRetained(self).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { context in
            let worker = Unmanaged<WorkerThread>.fromOpaque(context!).takeRetainedValue()
            worker.loop()
            return nil
        }, box)
        guard rc == 0 else {
            Unmanaged<WorkerThread>.fromOpaque(box).release()
            return nil
        }
        pthread_detach(thread)
    }

    /// Runs `job` after every job given before it.
    func async(_ job: @escaping @Sendable () -> Void) {
        jobs.withLock { $0.append(job) }
        pending.signal()
    }

    /// Waits for every job given so far, then ends the thread.
    func finish() {
        stopping.store(true, ordering: .releasing)
        pending.signal()
        done.wait()
    }

    private func loop() {
        while true {
            pending.wait()
            if let job = jobs.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) {
                job()
            } else if stopping.load(ordering: .acquiring) {
                done.signal()
                return
            }
        }
    }
}
