// File system calls the Swift Glibc overlay does not expose (they need
// _GNU_SOURCE): renameat2 flags, sync_file_range, page-cache advice, O_DIRECT.
#define _GNU_SOURCE
#include "CSystemShims.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

int resumable_rename_noreplace(const char *from, const char *to) {
#ifdef RENAME_NOREPLACE
    return renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE);
#else
    errno = ENOSYS;
    return -1;
#endif
}

int resumable_rename_exchange(const char *a, const char *b) {
#ifdef RENAME_EXCHANGE
    return renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE);
#else
    errno = ENOSYS;
    return -1;
#endif
}

int resumable_sync_file_range_write(int fd, long long offset, long long length) {
    return sync_file_range(fd, offset, length, SYNC_FILE_RANGE_WRITE);
}

int resumable_drop_page_cache(int fd) {
    return posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
}

/* Turns O_DIRECT (bypass the page cache) on or off for an open descriptor.
   Returns 0, or -1 with errno (EINVAL where the file system has no direct I/O). */
int resumable_set_direct_io(int fd, int on) {
#ifdef O_DIRECT
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0) return -1;
    return fcntl(fd, F_SETFL, on ? (flags | O_DIRECT) : (flags & ~O_DIRECT));
#else
    (void)fd;
    (void)on;
    errno = EINVAL;
    return -1;
#endif
}
