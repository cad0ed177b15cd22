// Running a short command with its output captured (a pipeline's preflight
// checks): fork + exec as the leader of a new process group, in a given
// directory, stdin /dev/null, stdout and stderr into one pipe.
//
// As in SpawnChild.c, the child only makes async-signal-safe calls between
// fork and exec (setpgid, sigaction, sigprocmask, prctl, getppid, chdir,
// open, dup2, fcntl, close, write, _exit) and execvpe.
#define _GNU_SOURCE
#include "CSystemShims.h"
#include "SpawnPrepare.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

static void report_and_exit(int fd, int stage, int code) {
    int message[2] = {stage, code};
    ssize_t ignored = write(fd, message, sizeof message);
    (void)ignored;
    _exit(127);
}

/// `fd` itself when it is 3 or more, else a close-on-exec copy of it at 3 or
/// above (so a dup2 onto 0, 1 or 2 never meets itself); -1 on failure.
static int above_standard(int fd) {
    return fd >= 3 ? fd : fcntl(fd, F_DUPFD_CLOEXEC, 3);
}

int resumable_spawn_captured(const char *file, char *const argv[], char *const envp[], const char *directory,
                             const int *default_signals, int default_signal_count, int *output_fd, int *error,
                             int *failed_stage) {
    int out[2];
    int report[2];
    *failed_stage = 0;
    if (pipe2(out, O_CLOEXEC) != 0) {
        *error = errno;
        return -1;
    }
    if (pipe2(report, O_CLOEXEC) != 0) {
        *error = errno;
        close(out[0]);
        close(out[1]);
        return -1;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        *error = errno;
        close(out[0]);
        close(out[1]);
        close(report[0]);
        close(report[1]);
        return -1;
    }
    if (pid == 0) {
        close(out[0]);
        close(report[0]);
        int reporter = above_standard(report[1]);
        if (reporter < 0) _exit(127);
        int failure = resumable_prepare_child(default_signals, default_signal_count);
        if (failure != 0) report_and_exit(reporter, 3, failure);
        if (getppid() != parent) _exit(137);
        if (directory != NULL && chdir(directory) != 0) report_and_exit(reporter, 1, errno);
        int writer = above_standard(out[1]);
        if (writer < 0) report_and_exit(reporter, 3, errno);
        int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (null < 0) report_and_exit(reporter, 3, errno);
        if (null == 0) {
            if (fcntl(0, F_SETFD, 0) != 0) report_and_exit(reporter, 3, errno);
        } else {
            if (dup2(null, 0) < 0) report_and_exit(reporter, 3, errno);
            close(null);
        }
        if (dup2(writer, 1) < 0 || dup2(writer, 2) < 0) report_and_exit(reporter, 3, errno);
        execvpe(file, argv, envp);
        report_and_exit(reporter, 2, errno);
    }
    close(out[1]);
    close(report[1]);
    int message[2] = {0, 0};
    ssize_t n;
    do {
        n = read(report[0], message, sizeof message);
    } while (n < 0 && errno == EINTR);
    close(report[0]);
    if (n == (ssize_t)sizeof message) {
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
        close(out[0]);
        *failed_stage = message[0];
        *error = message[1];
        return -1;
    }
    *output_fd = out[0];
    *error = 0;
    return pid;
}

int resumable_child_has_exited(int pid) {
    siginfo_t info;
    memset(&info, 0, sizeof info);
    int r;
    do {
        r = waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT);
    } while (r != 0 && errno == EINTR);
    if (r != 0) return -1;
    return info.si_pid == pid ? 1 : 0;
}
