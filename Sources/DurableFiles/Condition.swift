#if canImport(Glibc)
import Glibc
#endif

/// A mutex with a condition variable (pthread), for threads that wait for a
/// state change another thread announces: `lock()`, check the state,
/// `wait()` while it does not hold, `unlock()`; the other thread changes the
/// state under the lock and calls `broadcast()`. Foundation's `NSCondition`
/// without Foundation.
// @unchecked: its only state is a pthread mutex and condition variable,
// made for use from many threads; the pointers are set once by `init`.
package final class Condition: @unchecked Sendable {
    // Heap-allocated so the pthread objects never move; used only through
    // the pthread calls, which synchronise all access.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    package init() {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    package func lock() { pthread_mutex_lock(mutex) }
    package func unlock() { pthread_mutex_unlock(mutex) }

    /// Releases the lock, sleeps until a broadcast (or a spurious wake-up:
    /// always wait in a loop over the state), and takes the lock again.
    package func wait() { pthread_cond_wait(condition, mutex) }

    /// Wakes every waiting thread.
    package func broadcast() { pthread_cond_broadcast(condition) }
}
