// A program that runs `resumable` for a step that must not be cut short
// (the Python package's `resumable commit`, with its own stop signals
// blocked) sets RESUMABLE_IGNORE_STOP_SIGNALS=1: the stop signals are then
// ignored from the process's first instruction. Blocking alone is not enough:
// while the Swift runtime starts, its main thread waits in sigsuspend with an
// empty mask, so a SIGINT sent to the job's process group in that window
// killed the commit. The variable is removed, so nothing the command starts
// inherits it (it does inherit the ignored dispositions across exec, which
// is what a shielded step wants).
#define _GNU_SOURCE
#include <signal.h>
#include <stdlib.h>
#include <string.h>

__attribute__((constructor)) static void resumable_ignore_stop_signals_if_asked(void) {
    const char *value = getenv("RESUMABLE_IGNORE_STOP_SIGNALS");
    if (value == NULL || strcmp(value, "1") != 0) return;
    unsetenv("RESUMABLE_IGNORE_STOP_SIGNALS");
    struct sigaction ignore;
    memset(&ignore, 0, sizeof ignore);
    ignore.sa_handler = SIG_IGN;
    sigemptyset(&ignore.sa_mask);
    const int signals[] = {SIGINT, SIGTERM, SIGUSR1, SIGUSR2, SIGHUP};
    for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++) sigaction(signals[i], &ignore, NULL);
}
