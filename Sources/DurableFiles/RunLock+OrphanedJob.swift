import Glibc

extension RunLock.Owner {
    /// The live processes of the job this owner recorded (`job_pgid`), or
    /// none: no job recorded, recorded on another boot, or the group's
    /// leader pid now belongs to a later process (its start time differs).
    /// Only this machine's processes can be seen.
    package func liveJobProcesses() -> [Int32] {
        guard let group = jobProcessGroup, group > 1 else { return [] }
        if !bootID.isEmpty && bootID != RunLock.bootID() { return [] }
        if host != RunLock.hostName() { return [] }
        // A pid stays taken while any process has it as its process group,
        // so a leader pid that was reused means the whole group is gone.
        if let leader = ProcessTable.entry(group), let jobStartTicks, leader.startTicks != jobStartTicks { return [] }
        return ProcessTable.liveMembers(ofGroup: group)
    }
}

extension RunLock {
    /// A job left running by the dead owner of the run's lock: the recorded
    /// owner and the live processes of its job's process group. `nil` when a
    /// live process holds the lock, or the recorded job (if any) has ended.
    package static func orphanedJob(directory: String) -> (owner: Owner, group: Int32, pids: [Int32])? {
        let path = FilePath.join(directory, ".lock")
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        // Held by a live owner: its job is not orphaned.
        guard flock(fd, LOCK_SH | LOCK_NB) == 0 else { return nil }
        defer { flock(fd, LOCK_UN) }
        guard let owner = recordedOwner(directory: directory), let group = owner.jobProcessGroup else { return nil }
        let pids = owner.liveJobProcesses()
        return pids.isEmpty ? nil : (owner, group, pids)
    }
}
