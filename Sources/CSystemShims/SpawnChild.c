// Starting a supervised job so that it cannot outlive its supervisor
// (Linux): fork + exec with a parent-death signal, and a watchdog process
// that kills the job's process group when the supervisor dies.
//
// Between fork and exec the child of a multithreaded process may only make
// async-signal-safe calls: everything the child does here is a plain system
// call (setpgid, sigaction, sigprocmask, prctl, getppid, write, close, read,
// chdir, dup2, kill, _exit) or execvpe, which glibc implements without allocating.
#define _GNU_SOURCE
#include "CSystemShims.h"
#include "SpawnPrepare.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

int resumable_prepare_child(const int *default_signals, int default_signal_count) {
    // The leader of a process group of its own, so signals reach all it starts.
    if (setpgid(0, 0) != 0) return errno;
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = SIG_DFL;
    sigemptyset(&action.sa_mask);
    for (int i = 0; i < default_signal_count; i++) sigaction(default_signals[i], &action, NULL);
    sigset_t empty;
    sigemptyset(&empty);
    sigprocmask(SIG_SETMASK, &empty, NULL);
#ifdef __linux__
    // Killed when the thread that forked it ends (the caller waits for the
    // child on that thread, so: when the caller dies).
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) return errno;
#endif
    return 0;
}

static void write_errno_and_exit(int fd, int code) {
    ssize_t ignored = write(fd, &code, sizeof code);
    (void)ignored;
    _exit(127);
}

int resumable_spawn_job(const char *file, char *const argv[], char *const envp[], const int *default_signals,
                        int default_signal_count, const char *directory, int output_fd, int *error, int *watchdog_pid,
                        int *watchdog_fd) {
    int report[2];
    // The child waits on `gate` before its exec until the watchdog runs.
    int gate[2];
    if (pipe2(report, O_CLOEXEC) != 0) {
        *error = errno;
        return -1;
    }
    if (pipe2(gate, O_CLOEXEC) != 0) {
        *error = errno;
        close(report[0]);
        close(report[1]);
        return -1;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        *error = errno;
        close(report[0]);
        close(report[1]);
        close(gate[0]);
        close(gate[1]);
        return -1;
    }
    if (pid == 0) {
        close(report[0]);
        close(gate[1]);
        int failure = resumable_prepare_child(default_signals, default_signal_count);
        if (failure != 0) write_errno_and_exit(report[1], failure);
        // The supervisor died before the parent-death signal was armed.
        if (getppid() != parent) _exit(137);
        // Wait until the supervisor has started the watchdog: end of file
        // means it died first, and nothing of the job may start unwatched.
        char go = 0;
        ssize_t got;
        do {
            got = read(gate[0], &go, 1);
        } while (got < 0 && errno == EINTR);
        if (got != 1) _exit(137);
        close(gate[0]);
        if (directory != NULL && chdir(directory) != 0) write_errno_and_exit(report[1], errno);
        if (output_fd >= 0) {
            if (dup2(output_fd, STDOUT_FILENO) < 0 || dup2(output_fd, STDERR_FILENO) < 0) write_errno_and_exit(report[1], errno);
            if (output_fd != STDOUT_FILENO && output_fd != STDERR_FILENO) close(output_fd);
        }
        execvpe(file, argv, envp);
        write_errno_and_exit(report[1], errno);
    }
    close(report[1]);
    close(gate[0]);
    if (watchdog_pid != NULL) {
        *watchdog_fd = -1;
        *watchdog_pid = resumable_start_watchdog(pid, watchdog_fd);
    }
    char go = 1;
    ssize_t sent;
    do {
        sent = write(gate[1], &go, 1);
    } while (sent < 0 && errno == EINTR);
    close(gate[1]);
    int code = 0;
    ssize_t n;
    do {
        n = read(report[0], &code, sizeof code);
    } while (n < 0 && errno == EINTR);
    close(report[0]);
    if (n == (ssize_t)sizeof code) {
        // exec failed: collect the child (and dismiss its watchdog), report why.
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
        if (watchdog_pid != NULL && *watchdog_pid > 0) {
            char dismiss = 1;
            ssize_t ignored = write(*watchdog_fd, &dismiss, 1);
            (void)ignored;
            close(*watchdog_fd);
            while (waitpid(*watchdog_pid, &status, 0) < 0 && errno == EINTR) {}
            *watchdog_pid = -1;
            *watchdog_fd = -1;
        }
        *error = code;
        return -1;
    }
    *error = 0;
    return pid;
}

int resumable_start_watchdog(int process_group, int *dismiss_fd) {
    int channel[2];
    if (pipe2(channel, O_CLOEXEC) != 0) return -1;
    pid_t pid = fork();
    if (pid < 0) {
        int saved = errno;
        close(channel[0]);
        close(channel[1]);
        errno = saved;
        return -1;
    }
    if (pid == 0) {
        // Out of the supervisor's process group, so a Ctrl-C meant for the
        // supervisor does not end the watchdog first.
        setpgid(0, 0);
        // Keep only the read end (as descriptor 0): an inherited lock
        // descriptor or a copy of the write end would keep the lock held or
        // the pipe open.
        int in = channel[0];
        if (in != 0) {
            if (dup2(in, 0) < 0) _exit(1);
        } else {
            fcntl(0, F_SETFD, 0);
        }
#ifdef SYS_close_range
        if (syscall(SYS_close_range, 1u, ~0u, 0) != 0)
#endif
        {
            struct rlimit limit;
            long top = (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < 65536) ? (long)limit.rlim_cur : 65536;
            for (long fd = 1; fd < top; fd++) close((int)fd);
        }
        // The supervisor's handlers write to a pipe this process closed: back
        // to the default actions (ignored signals stay ignored).
        for (int number = 1; number < NSIG; number++) {
            struct sigaction current;
            if (number == SIGKILL || number == SIGSTOP || sigaction(number, NULL, &current) != 0) continue;
            if (current.sa_handler == SIG_IGN || current.sa_handler == SIG_DFL) continue;
            struct sigaction fallback;
            memset(&fallback, 0, sizeof fallback);
            fallback.sa_handler = SIG_DFL;
            sigemptyset(&fallback.sa_mask);
            sigaction(number, &fallback, NULL);
        }
        sigset_t empty;
        sigemptyset(&empty);
        sigprocmask(SIG_SETMASK, &empty, NULL);
        char byte;
        for (;;) {
            ssize_t n = read(0, &byte, 1);
            if (n == 1) _exit(0);  // dismissed: the attempt ended and was cleaned up
            if (n == 0) {          // every write end is closed: the supervisor died
                kill(-process_group, SIGKILL);
                _exit(0);
            }
            if (errno != EINTR) _exit(1);
        }
    }
    close(channel[0]);
    *dismiss_fd = channel[1];
    return pid;
}
