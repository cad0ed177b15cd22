import Glibc
import Dispatch
import Synchronization

/// A thread of its own that runs jobs in the order they are given, for the
/// stages of a pipelined write: unlike a dispatch queue, it never waits for a
/// slot in a shared thread pool, so the stages of several files written at
/// once all run in parallel. The thread ends after `finish()`.
package final class WorkerThread: Sendable {
    private let jobs = Mutex<[@Sendable () -> Void]>([])
    private let pending = DispatchSemaphore(value: 0)
    private let done = DispatchSemaphore(value: 0)
    private let stopping = Atomic<Bool>(false)
    /// The thread, to recognise a `finish()` called from one of its own jobs.
    private let thread = Mutex<pthread_t?>(nil)

    /// A new thread, or `nil` when the system has no thread to give.
    package init?() {
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
        self.thread.withLock { $0 = thread }
    }

    /// Runs `job` after every job given before it.
    package func async(_ job: @escaping @Sendable () -> Void) {
        jobs.withLock { $0.append(job) }
        pending.signal()
    }

    /// Waits for every job given so far, then ends the thread. Called from one
    /// of the thread's own jobs (an owner released by its last job), it only
    /// asks the thread to end after that job, without waiting for itself.
    package func finish() {
        stopping.store(true, ordering: .releasing)
        pending.signal()
        if let thread = thread.withLock({ $0 }), pthread_equal(thread, pthread_self()) != 0 { return }
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
