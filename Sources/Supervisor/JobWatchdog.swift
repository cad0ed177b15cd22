import Glibc
import CSystemShims

/// A small process that kills a job's whole process group when the
/// supervisor dies without cleaning up (SIGKILL, the OOM killer): it waits
/// on a pipe whose only write end the supervisor holds, and end-of-file
/// means the supervisor is gone. The job's leader also dies by its
/// parent-death signal (`ChildProcess`); the watchdog takes the rest of its
/// group. It lives in a process group of its own and closes every other
/// descriptor (so it never keeps the run's lock held).
struct JobWatchdog {
    let pid: Int32
    private let descriptor: Int32

    /// The watchdog `ChildProcess.spawnWatched` started: its pid and the write end of its pipe.
    init(pid: Int32, descriptor: Int32) {
        self.pid = pid
        self.descriptor = descriptor
    }

    /// Tells the watchdog to exit without killing anything, and collects it.
    /// Call once the job's group has ended.
    func dismiss() {
        var byte: UInt8 = 1
        _ = write(descriptor, &byte, 1)
        close(descriptor)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    }
}
