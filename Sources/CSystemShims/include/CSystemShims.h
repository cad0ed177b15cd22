#ifndef RESUMABLE_CSYSTEMSHIMS_H
#define RESUMABLE_CSYSTEMSHIMS_H

/// One C file per concern: FileCalls.c (renameat2, sync_file_range, page
/// cache, direct I/O), Process.c (subreaper, thread priority), CRC32C.c,
/// SHA256NI.c, CopyOnWrite.c. Declarations are grouped by comment below.

/// Linux calls the Swift Glibc overlay does not expose (they need _GNU_SOURCE): FileCalls.c, Process.c.
int resumable_rename_noreplace(const char *from, const char *to);
int resumable_rename_exchange(const char *a, const char *b);
int resumable_sync_file_range_write(int fd, long long offset, long long length);
int resumable_drop_page_cache(int fd);
int resumable_become_child_subreaper(void);

/// CRC32C.c: CRC-32C (Castagnoli) of `length` bytes, continuing from `crc` (0 to start):
/// the SSE 4.2 / ARMv8 CRC instructions where the processor has them, a table otherwise.
unsigned int resumable_crc32c(unsigned int crc, const void *data, unsigned long length);

/// FileCalls.c: turns O_DIRECT on (1) or off (0) for an open descriptor: 0, or -1 with errno.
int resumable_set_direct_io(int fd, int on);

/// SHA-256 state for the SHA-NI kernels below (SHA256NI.c).
typedef struct {
    unsigned int h[8];
    unsigned char buffer[64];
    unsigned int buffered;
    unsigned long long total;
} resumable_sha256_ctx;

/// 1 when the processor has the SHA-NI instructions the kernels need.
int resumable_sha256_ni_available(void);
void resumable_sha256_init(resumable_sha256_ctx *c);
/// Adds bytes (SHA-NI only: check resumable_sha256_ni_available first).
void resumable_sha256_update(resumable_sha256_ctx *c, const void *data, unsigned long length);
/// Adds `length` bytes to each of two streams, both at once where they are block-aligned.
void resumable_sha256_update2(resumable_sha256_ctx *a, const void *pa, resumable_sha256_ctx *b, const void *pb,
                              unsigned long length);
/// Writes the 32-byte digest.
void resumable_sha256_final(resumable_sha256_ctx *c, unsigned char digest[32]);

/// Copy-on-write snapshots of registered memory (CopyOnWrite.c). Chunks are 2 MiB.
unsigned long resumable_cow_chunk_size(void);
/// Registers [base, base + length), both multiples of the chunk size: a slot
/// number, or -1 with errno. Installs nothing: the fault handler is installed
/// by the first snapshot.
int resumable_cow_register(void *base, unsigned long length);
/// Forgets a slot (no snapshot may be in progress).
void resumable_cow_unregister(int slot);
/// Starts a snapshot of [start, start + length) of the slot (start chunk-aligned)
/// into `destination`: makes sure the fault handler is the installed SIGSEGV
/// and SIGBUS action (reinstalling it over whatever replaced it, which it then
/// chains to), then write-protects the range. 0, or -1 with errno (EBUSY: one
/// is in progress).
int resumable_cow_begin(int slot, unsigned long start, unsigned long length, void *destination);
/// The chunks of the snapshot in progress.
unsigned long resumable_cow_snapshot_chunks(int slot);
/// Copies chunk `index` of the snapshot unless a fault or another caller has; returns once it is copied.
void resumable_cow_copy(int slot, unsigned long index);
/// Copies what is left and ends the snapshot: 0, or the errno that made it incomplete.
int resumable_cow_end(int slot);
/// Writes that faulted into a snapshot, and the nanoseconds they spent copying (process totals).
void resumable_cow_fault_stats(unsigned long long *faults, unsigned long long *nanoseconds);
/// 1 when the copy-on-write fault handler is the installed action for both
/// SIGSEGV and SIGBUS (asked of sigaction), 0 otherwise.
int resumable_cow_handler_installed(void);
/// Times a snapshot found the handler replaced (by another handler, or handed
/// back after a fault that was not ours) and installed it again.
unsigned long long resumable_cow_handler_reinstalls(void);

/// Raises the calling thread's nice value by `increment`, at most to 19 (Linux): 0, or -1 with errno.
int resumable_lower_thread_priority(int increment);

/// Starts a supervised job (SpawnChild.c): fork; in the child setpgid(0, 0),
/// the listed signals back to their defaults, an empty signal mask,
/// PR_SET_PDEATHSIG(SIGKILL), then execvpe. Returns the child's pid, or -1
/// with `*error` set to the errno of the failed fork or exec (the child is
/// then already collected). The parent-death signal fires when the calling
/// *thread* ends: call it from the thread that waits for the job.
///
/// With `watchdog_pid` non-NULL, a watchdog for the child's process group
/// (see `resumable_start_watchdog`) is started while the child waits before
/// its exec, so no process of the job can exist unwatched; `*watchdog_pid`
/// is its pid (or -1 with `*watchdog_fd` -1 when it could not be started).
/// `directory`, when not NULL, is the child's working directory (a failed
/// chdir is reported like a failed exec); `output_fd`, when not -1, becomes
/// the child's standard output and standard error.
int resumable_spawn_job(const char *file, char *const argv[], char *const envp[], const int *default_signals,
                        int default_signal_count, const char *directory, int output_fd, int *error, int *watchdog_pid,
                        int *watchdog_fd);

/// Starts a watchdog process that sends SIGKILL to `process_group` when the
/// caller dies, and exits without doing anything when one byte is written to
/// `*dismiss_fd` (close-on-exec; the caller writes it, closes it and reaps
/// the returned pid). Returns the watchdog's pid, or -1 with errno.
int resumable_start_watchdog(int process_group, int *dismiss_fd);

/// A pipe whose both ends are close-on-exec from the start (`pipe2`), so a
/// child another thread starts at the same moment never inherits it.
int resumable_pipe_cloexec(int fds[2]);
/// Starts a short command with its output captured (SpawnCaptured.c): fork;
/// in the child setpgid(0, 0), the listed signals back to their defaults, an
/// empty signal mask, PR_SET_PDEATHSIG(SIGKILL), chdir(`directory`) unless
/// NULL, stdin from /dev/null, stdout and stderr into one pipe, then
/// execvpe. Returns the child's pid (also its process group) with
/// `*output_fd` the pipe's read end (close-on-exec), or -1 with `*error` the
/// errno and `*failed_stage` what failed: 1 chdir, 2 exec, 3 the child's
/// other setup, 0 the fork or a pipe (the child is then already collected).
/// Call it from the thread that waits for the child.
int resumable_spawn_captured(const char *file, char *const argv[], char *const envp[], const char *directory,
                             const int *default_signals, int default_signal_count, int *output_fd, int *error,
                             int *failed_stage);

/// Whether the child `pid` has ended, without collecting it (waitid with
/// WNOWAIT, so its pid and process group id stay reserved until waitpid):
/// 1 ended, 0 running, -1 with errno.
int resumable_child_has_exited(int pid);

#endif
