// Copy-on-write snapshots of memory regions, in user space.
//
// A region ("arena") is registered once. A snapshot of a chunk-aligned part of
// it write-protects that part (one mprotect) and marks its chunks pending.
// From then on each pending chunk is copied to the snapshot's destination
// exactly once, by whichever comes first:
//   - a background copier calling resumable_cow_copy_chunk, or
//   - a thread writing to the chunk: its write faults, the SIGSEGV handler
//     below copies the chunk, makes it writable again, and the write resumes.
// So the destination ends up holding the region as it was at the snapshot,
// while the owner of the memory writes on at once.
//
// The handler does only async-signal-safe work: atomics, memcpy, mprotect,
// sched_yield, clock_gettime, sigaction, write. A fault that is not a write to
// a pending chunk goes to the handler installed before ours (the Swift
// runtime's crash reporter, say, or a JIT that recovers from faults of its
// own), or gets the default action: a crash stays a crash.
//
// Handing a fault back puts the previous handler in place for good, and other
// code may install a handler over ours at any time. So the handler is not
// installed once: every snapshot (resumable_cow_begin) asks sigaction which
// handler is in place and, when it is not ours, installs ours again, keeping
// the one it found as the handler to chain to. A snapshot never write-protects
// memory while another handler would get its faults.
#define _GNU_SOURCE
#include "CSystemShims.h"
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

enum { COW_WRITABLE = 0, COW_PENDING = 1, COW_COPYING = 2 };
#define COW_SLOTS 64

typedef struct {
    _Atomic(char *) base;            // NULL: the slot is free
    unsigned long length;            // registered bytes (a multiple of the chunk size)
    _Atomic(unsigned char) *states;  // one per chunk
    char *destination;               // the snapshot's copy of [start, start + snapshot_length)
    unsigned long start, snapshot_length;
    _Atomic int active;              // a snapshot is being taken
    _Atomic int failed;              // errno of a failed mprotect during the snapshot, or 0
} cow_slot;

static cow_slot slots[COW_SLOTS];
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;

/// The handler state, per signal (0: SIGSEGV, 1: SIGBUS). The action to chain
/// to is kept twice: installing writes the copy the handler is not reading,
/// then makes it current.
static const int cow_signals[2] = {SIGSEGV, SIGBUS};
static struct sigaction previous_actions[2][2];
static _Atomic int previous_index[2];
/// No flag says whether ours is installed: it could only go stale. Whether
/// it is, is asked of sigaction each time it matters.
static _Atomic int ever_installed[2];
/// The action in place before ours was first installed.
static struct sigaction first_previous[2];
static _Atomic unsigned long long reinstall_count;
static pthread_mutex_t handler_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic unsigned long long fault_count, fault_nanoseconds;

unsigned long resumable_cow_chunk_size(void) { return 2ul << 20; }

static unsigned long long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (unsigned long long)t.tv_sec * 1000000000ull + (unsigned long long)t.tv_nsec;
}

static void say(const char *message) {
    ssize_t ignored = write(2, message, strlen(message));
    (void)ignored;
}

/// Makes [start, end) of a slot writable after a failed mprotect, so the
/// program can go on; the snapshot is marked failed (its copy is incomplete).
static void give_up(cow_slot *s, int error) {
    int expected = 0;
    atomic_compare_exchange_strong(&s->failed, &expected, error);
    char *base = atomic_load(&s->base);
    if (mprotect(base + s->start, (s->snapshot_length + 4095) & ~4095ul, PROT_READ | PROT_WRITE) != 0) {
        say("resumable: cannot make snapshot memory writable again (mprotect failed); aborting\n");
        abort();
    }
    unsigned long chunk = resumable_cow_chunk_size();
    unsigned long first = s->start / chunk, count = (s->snapshot_length + chunk - 1) / chunk;
    for (unsigned long i = first; i < first + count; i++) {
        unsigned char pending = COW_PENDING;
        atomic_compare_exchange_strong(&s->states[i], &pending, COW_WRITABLE);
    }
}

/// Copies chunk `i` of a slot unless someone has; returns once it is copied.
static void copy_chunk(cow_slot *s, unsigned long i) {
    unsigned char expected = COW_PENDING;
    if (atomic_compare_exchange_strong(&s->states[i], &expected, COW_COPYING)) {
        unsigned long chunk = resumable_cow_chunk_size();
        unsigned long offset = i * chunk - s->start;
        unsigned long bytes = s->snapshot_length - offset < chunk ? s->snapshot_length - offset : chunk;
        char *from = atomic_load(&s->base) + i * chunk;
        memcpy(s->destination + offset, from, bytes);
        if (mprotect(from, (bytes + 4095) & ~4095ul, PROT_READ | PROT_WRITE) != 0) {
            atomic_store(&s->states[i], COW_WRITABLE);
            give_up(s, errno);
            return;
        }
        atomic_store(&s->states[i], COW_WRITABLE);
        return;
    }
    while (atomic_load(&s->states[i]) == COW_COPYING) sched_yield();
}

static void on_fault(int signal_number, siginfo_t *info, void *context);

static int signal_index(int signal_number) { return signal_number == SIGSEGV ? 0 : 1; }

static int is_ours(const struct sigaction *action) {
    return (action->sa_flags & SA_SIGINFO) && action->sa_sigaction == on_fault;
}

/// A fault that is not ours: give the signal back to the handler that was
/// there before (the Swift runtime's crash reporter, say, or the default
/// action) and return; the faulting instruction runs again and gets it,
/// in a signal frame of its own. Calling that handler from inside this one
/// instead hangs the Swift crash reporter, which reads the crashed process
/// with faults of its own. Ours is no longer installed then: the next
/// snapshot installs it again.
///
/// A handler installed over ours that hands faults it does not know back to
/// ours (calling it, or installing it again and returning), and that ours
/// then chains to after a snapshot reinstalled ours over it, makes a cycle:
/// a fault neither knows would go round for ever. So the same fault coming
/// back within one handler generation (no reinstall in between), or ours
/// being called while another handler is installed and is the one ours would
/// hand the fault to, goes to the handler that was there before ours was
/// first installed instead, and if it still comes back, to the default action.
static _Thread_local void *last_address;
static _Thread_local unsigned long last_generation;
static _Thread_local unsigned repeats;
static _Atomic unsigned long handler_generation;

static void chain(int signal_number, void *address, int from_kernel) {
    int k = signal_index(signal_number);
    const struct sigaction *target = &previous_actions[k][atomic_load(&previous_index[k])];
    unsigned long generation = atomic_load(&handler_generation);
    if (from_kernel && address == last_address && generation == last_generation) {
        repeats++;
    } else {
        last_address = address;
        last_generation = generation;
        repeats = 0;
    }
    struct sigaction current;
    int called_by_other = sigaction(signal_number, NULL, &current) == 0 && !is_ours(&current) &&
                          current.sa_handler == target->sa_handler;
    struct sigaction fallback;
    memset(&fallback, 0, sizeof fallback);
    fallback.sa_handler = SIG_DFL;
    sigemptyset(&fallback.sa_mask);
    if (called_by_other || repeats >= 2) {
        target = &first_previous[k];
        if (repeats >= 4 || (called_by_other && current.sa_handler == target->sa_handler)) target = &fallback;
    }
    sigaction(signal_number, target, NULL);
}

static void on_fault(int signal_number, siginfo_t *info, void *context) {
    int saved_errno = errno;
    char *address = (char *)info->si_addr;
    if (info->si_code > 0) {  // sent by the kernel for a fault, not by kill()
        unsigned long chunk = resumable_cow_chunk_size();
        for (int k = 0; k < COW_SLOTS; k++) {
            char *base = atomic_load(&slots[k].base);
            if (!base || address < base || address >= base + slots[k].length) continue;
            unsigned long i = (unsigned long)(address - base) / chunk;
            if (atomic_load(&slots[k].states[i]) != COW_WRITABLE) {
                unsigned long long started = now_ns();
                copy_chunk(&slots[k], i);
                atomic_fetch_add(&fault_nanoseconds, now_ns() - started);
                atomic_fetch_add(&fault_count, 1);
                errno = saved_errno;
                return;
            }
            // Writable already: the copier made it so between the fault and
            // now. Arena memory is never read-only otherwise, so the write,
            // run again, goes through.
            errno = saved_errno;
            return;
        }
    }
    (void)context;
    chain(signal_number, address, info->si_code > 0);
    errno = saved_errno;
}

/// Makes ours the installed SIGSEGV and SIGBUS handler unless it is:
/// whatever is installed instead becomes the handler to chain to. 0, or -1 with errno.
static int ensure_handler(void) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = on_fault;
    action.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
    sigemptyset(&action.sa_mask);
    int result = 0;
    pthread_mutex_lock(&handler_lock);
    for (int k = 0; k < 2; k++) {
        struct sigaction current, replaced;
        if (sigaction(cow_signals[k], NULL, &current) != 0) {
            result = -1;
            break;
        }
        if (is_ours(&current)) continue;
        int spare = 1 - atomic_load(&previous_index[k]);
        previous_actions[k][spare] = current;
        atomic_store(&previous_index[k], spare);
        if (sigaction(cow_signals[k], &action, &replaced) != 0) {
            result = -1;
            break;
        }
        if (replaced.sa_handler != current.sa_handler) {  // changed between the two calls
            previous_actions[k][1 - spare] = replaced;
            atomic_store(&previous_index[k], 1 - spare);
        }
        if (!atomic_load(&ever_installed[k])) first_previous[k] = previous_actions[k][atomic_load(&previous_index[k])];
        if (atomic_exchange(&ever_installed[k], 1) && k == 0) atomic_fetch_add(&reinstall_count, 1);
        atomic_fetch_add(&handler_generation, 1);
    }
    pthread_mutex_unlock(&handler_lock);
    return result;
}

int resumable_cow_handler_installed(void) {
    for (int k = 0; k < 2; k++) {
        struct sigaction current;
        if (sigaction(cow_signals[k], NULL, &current) != 0 || !is_ours(&current)) return 0;
    }
    return 1;
}

unsigned long long resumable_cow_handler_reinstalls(void) { return atomic_load(&reinstall_count); }

int resumable_cow_register(void *base, unsigned long length) {
    unsigned long chunk = resumable_cow_chunk_size();
    if (!base || length == 0 || length % chunk != 0 || (uintptr_t)base % chunk != 0) {
        errno = EINVAL;
        return -1;
    }
    pthread_mutex_lock(&registry_lock);
    int result = -1;
    for (int k = 0; k < COW_SLOTS; k++) {
        if (atomic_load(&slots[k].base)) continue;
        _Atomic(unsigned char) *states = calloc(length / chunk, 1);
        if (!states) {
            errno = ENOMEM;
            goto done;
        }
        slots[k].length = length;
        slots[k].states = states;
        slots[k].destination = NULL;
        slots[k].start = slots[k].snapshot_length = 0;
        atomic_store(&slots[k].active, 0);
        atomic_store(&slots[k].failed, 0);
        atomic_store(&slots[k].base, (char *)base);
        result = k;
        goto done;
    }
    errno = EMFILE;
done:
    pthread_mutex_unlock(&registry_lock);
    return result;
}

void resumable_cow_unregister(int slot) {
    if (slot < 0 || slot >= COW_SLOTS) return;
    pthread_mutex_lock(&registry_lock);
    _Atomic(unsigned char) *states = slots[slot].states;
    atomic_store(&slots[slot].base, NULL);
    slots[slot].states = NULL;
    free((void *)states);
    pthread_mutex_unlock(&registry_lock);
}

int resumable_cow_begin(int slot, unsigned long start, unsigned long length, void *destination) {
    unsigned long chunk = resumable_cow_chunk_size();
    if (slot < 0 || slot >= COW_SLOTS || !atomic_load(&slots[slot].base) || start % chunk != 0 || length == 0 ||
        start + length > slots[slot].length || !destination) {
        errno = EINVAL;
        return -1;
    }
    cow_slot *s = &slots[slot];
    int idle = 0;
    if (!atomic_compare_exchange_strong(&s->active, &idle, 1)) {
        errno = EBUSY;
        return -1;
    }
    if (ensure_handler() != 0) {
        int error = errno;
        atomic_store(&s->active, 0);
        errno = error;
        return -1;
    }
    s->destination = destination;
    s->start = start;
    s->snapshot_length = length;
    atomic_store(&s->failed, 0);
    unsigned long first = start / chunk, count = (length + chunk - 1) / chunk;
    for (unsigned long i = first; i < first + count; i++) atomic_store(&s->states[i], COW_PENDING);
    if (mprotect(atomic_load(&s->base) + start, (length + 4095) & ~4095ul, PROT_READ) != 0) {
        int error = errno;
        for (unsigned long i = first; i < first + count; i++) atomic_store(&s->states[i], COW_WRITABLE);
        atomic_store(&s->active, 0);
        errno = error;
        return -1;
    }
    return 0;
}

unsigned long resumable_cow_snapshot_chunks(int slot) {
    if (slot < 0 || slot >= COW_SLOTS) return 0;
    unsigned long chunk = resumable_cow_chunk_size();
    return (slots[slot].snapshot_length + chunk - 1) / chunk;
}

void resumable_cow_copy(int slot, unsigned long index) {
    if (slot < 0 || slot >= COW_SLOTS || !atomic_load(&slots[slot].active)) return;
    cow_slot *s = &slots[slot];
    copy_chunk(s, s->start / resumable_cow_chunk_size() + index);
}

int resumable_cow_end(int slot) {
    if (slot < 0 || slot >= COW_SLOTS) return EINVAL;
    cow_slot *s = &slots[slot];
    unsigned long chunks = resumable_cow_snapshot_chunks(slot);
    for (unsigned long i = 0; i < chunks; i++) resumable_cow_copy(slot, i);
    int failed = atomic_load(&s->failed);
    atomic_store(&s->active, 0);
    return failed;
}

void resumable_cow_fault_stats(unsigned long long *faults, unsigned long long *nanoseconds) {
    *faults = atomic_load(&fault_count);
    *nanoseconds = atomic_load(&fault_nanoseconds);
}
