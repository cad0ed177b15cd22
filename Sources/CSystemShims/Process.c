// Process and thread attributes: child subreaper, thread nice values.
#define _GNU_SOURCE
#include "CSystemShims.h"
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

/// Makes this process adopt its orphaned descendants (Linux PR_SET_CHILD_SUBREAPER),
/// so a supervisor can reap a child's grandchildren. Returns 0, or -1 with errno.
int resumable_become_child_subreaper(void) {
#ifdef __linux__
    return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
#else
    errno = ENOSYS;
    return -1;
#endif
}

/// Raises the calling thread's nice value by `increment` (at most to 19): 0,
/// or -1 with errno. Linux only: elsewhere nice values belong to processes.
int resumable_lower_thread_priority(int increment) {
#ifdef __linux__
    id_t tid = (id_t)syscall(SYS_gettid);
    errno = 0;
    int current = getpriority(PRIO_PROCESS, tid);
    if (errno != 0) return -1;
    int wanted = current + increment > 19 ? 19 : current + increment;
    return setpriority(PRIO_PROCESS, tid, wanted);
#else
    (void)increment;
    errno = ENOSYS;
    return -1;
#endif
}

int resumable_pipe_cloexec(int fds[2]) {
    return pipe2(fds, O_CLOEXEC);
}
