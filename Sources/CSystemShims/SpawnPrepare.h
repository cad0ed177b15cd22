// Shared by SpawnChild.c and SpawnCaptured.c (not part of the module's interface).
#ifndef RESUMABLE_SPAWN_PREPARE_H
#define RESUMABLE_SPAWN_PREPARE_H

/// In a freshly forked child, before exec (async-signal-safe calls only):
/// makes it the leader of a process group of its own, resets the listed
/// signals to their defaults, empties the signal mask and arms the
/// parent-death signal (SIGKILL, Linux). Returns 0, or the errno of the step
/// that failed.
int resumable_prepare_child(const int *default_signals, int default_signal_count);

#endif
