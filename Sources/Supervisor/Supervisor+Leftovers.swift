import Glibc
import DurableFiles
import Logging

/// Processes a job leaves behind: those that escaped its process group
/// (`setsid`, double forks) and were adopted by this supervisor, and a job
/// left running by a supervisor that died.
extension Supervisor {
    /// After an attempt: stops the processes this supervisor adopted
    /// (it is a child subreaper when `adoptsOrphans` is set, so everything
    /// the job started that outlived its parent became a child of this
    /// process). They are named in a warning, sent SIGTERM (their process
    /// group too when they lead one), SIGKILL after the grace period, and
    /// collected. Without `adoptsOrphans` the supervisor may have children of
    /// its own, so nothing is done.
    func stopLeftoverProcesses(of attempt: Int) {
        guard configuration.adoptsOrphans else { return }
        let me = getpid()
        let clock = SystemSupervisorClock()
        let deadline = clock.now() + configuration.grace
        let giveUp = deadline + 5
        var seen: Set<Int32> = []
        var killing = false
        while true {
            collectZombies()
            let alive = ProcessTable.children(of: me).filter(\.isAlive)
            if alive.isEmpty { return }
            let new = alive.filter { !seen.contains($0.pid) }
            if !new.isEmpty {
                logger.warning(
                    "Attempt \(attempt) left \(new.count == 1 ? "a process" : "\(new.count) processes") running outside its process group: pid \(ProcessTable.describe(new.map(\.pid))). Stopping \(new.count == 1 ? "it" : "them") (SIGTERM, SIGKILL after \(Self.seconds(configuration.grace))).")
                for entry in new { send(killing ? SIGKILL : SIGTERM, to: entry) }
                seen.formUnion(new.map(\.pid))
            }
            let now = clock.now()
            if !killing && now >= deadline {
                logger.warning("Killing the processes attempt \(attempt) left (SIGKILL): pid \(alive.map { String($0.pid) }.joined(separator: ", ")).")
                killing = true
                for entry in alive { send(SIGKILL, to: entry) }
            }
            if now >= giveUp {
                logger.warning("Processes left by attempt \(attempt) are still alive: pid \(alive.map { String($0.pid) }.joined(separator: ", ")).")
                return
            }
            clock.pause(0.02)
        }
    }

    /// Sends `signal` to a leftover process, and to its process group when it leads one.
    private func send(_ signal: Int32, to entry: ProcessTable.Entry) {
        if entry.processGroup == entry.pid && entry.processGroup != getpgrp() { kill(-entry.pid, signal) }
        kill(entry.pid, signal)
    }

    /// Collects every child of this process that has ended.
    private func collectZombies() {
        var status: Int32 = 0
        for entry in ProcessTable.children(of: getpid()) where !entry.isAlive {
            _ = waitpid(entry.pid, &status, WNOHANG)
        }
    }

    /// Before taking the run over: a job whose supervisor died (recorded in
    /// the run's lock file, its process group still alive on this machine)
    /// is stopped — nobody else can stop it, and it would otherwise train
    /// into the run beside the job this supervisor starts. It is named in a
    /// notice, sent SIGTERM, and SIGKILL after the grace period.
    func stopOrphanedJob() {
        guard let orphan = RunLock.orphanedJob(directory: configuration.runDirectory) else { return }
        let (owner, group, pids) = (orphan.owner, orphan.group, orphan.pids)
        logger.notice(
            "The job of \(owner), which is no longer running, is still alive in \(configuration.runDirectory): process group \(group), pid \(ProcessTable.describe(pids)). Stopping it before starting a new one (SIGTERM, SIGKILL after \(Self.seconds(configuration.grace))).")
        let clock = SystemSupervisorClock()
        kill(-group, SIGTERM)
        let deadline = clock.now() + configuration.grace
        var killed = false
        while true {
            let alive = ProcessTable.liveMembers(ofGroup: group)
            if alive.isEmpty {
                logger.notice("The previous job (process group \(group)) has ended\(killed ? " (killed)" : "").")
                return
            }
            let now = clock.now()
            if !killed && now >= deadline {
                logger.notice("Killing the previous job (SIGKILL to process group \(group)): pid \(alive.map { String($0) }.joined(separator: ", ")).")
                kill(-group, SIGKILL)
                killed = true
            }
            // Taking the lock reports what is still alive then.
            if now >= deadline + 5 { return }
            clock.pause(0.02)
        }
    }
}
