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
// runtime's crash reporter, say), or gets the default action: a crash stays
// a crash.
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
static struct sigaction previous_segv, previous_bus;
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

/// A fault that is not ours: give the signal back to the handler that was
/// there before (the Swift runtime's crash reporter, say, or the default
/// action) and return; the faulting instruction runs again and gets it,
/// in a signal frame of its own. Calling that handler from inside this one
/// instead hangs the Swift crash reporter, which reads the crashed process
/// with faults of its own.
static void chain(int signal_number) {
    sigaction(signal_number, signal_number == SIGSEGV ? &previous_segv : &previous_bus, NULL);
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
    chain(signal_number);
    errno = saved_errno;
}

static int install_handler(void) {
    static int installed = 0;
    if (installed) return 0;
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = on_fault;
    action.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
    sigemptyset(&action.sa_mask);
    if (sigaction(SIGSEGV, &action, &previous_segv) != 0) return -1;
    if (sigaction(SIGBUS, &action, &previous_bus) != 0) return -1;
    installed = 1;
    return 0;
}

int resumable_cow_register(void *base, unsigned long length) {
    unsigned long chunk = resumable_cow_chunk_size();
    if (!base || length == 0 || length % chunk != 0 || (uintptr_t)base % chunk != 0) {
        errno = EINVAL;
        return -1;
    }
    pthread_mutex_lock(&registry_lock);
    int result = -1;
    if (install_handler() != 0) goto done;
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
