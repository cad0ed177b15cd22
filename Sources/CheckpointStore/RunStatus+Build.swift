import DurableFiles
import JSON

extension RunStatus {
    /// Gathers the status of the run of `store`: identity, lock, checkpoints
    /// (manifests read, files not hashed), trackers, the journal's summary and the newest
    /// events, then the sections of `contributors` in order.
    /// - Parameters:
    ///   - monitor: the metric that makes a checkpoint best; `nil` uses the run's.
    ///   - recentEvents: how many of the newest events to keep.
    ///   - contributors: add further sections (training progress, supervisor attempts).
    /// - Throws: what reading the checkpoints or the journal throws.
    /// - Complexity: one manifest read per checkpoint, one read of `events.jsonl`.
    public static func build(
        from store: CheckpointStore, monitor: Monitor? = nil, recentEvents: Int = 10,
        contributors: [any RunStatusContributor] = []
    ) throws -> RunStatus {
        let run = store.run
        let identity = Identity(
            id: run.id, name: run.name, createdAt: run.createdAt, configFingerprint: run.configFingerprint,
            monitor: run.monitor)
        let scan = try store.scan()
        let chosenMonitor = monitor ?? run.monitor
        let best = chosenMonitor.flatMap { CheckpointStore.best(in: scan.checkpoints, by: $0) }
        let summary = CheckpointSummary(
            count: scan.checkpoints.count, damaged: scan.damaged,
            totalBytes: Checkpoint.total(scan.checkpoints.lazy.map(\.bytes)),
            latest: scan.checkpoints.last.map(CheckpointBrief.init), best: best.map(CheckpointBrief.init),
            monitor: chosenMonitor)
        let events = try store.events.read()
        var status = RunStatus(
            directory: store.directory, identity: identity, lock: lockState(of: store.directory), checkpoints: summary,
            trackers: run.trackers, history: RunHistory(events: events), recentEvents: Array(events.suffix(max(0, recentEvents))),
            additionalSections: [])
        for contributor in contributors {
            if let section = try contributor.section(for: store, status: status) { status.add(section) }
        }
        return status
    }

    /// The lock's recorded owner and whether it is alive.
    static func lockState(of directory: String) -> LockState? {
        let live = RunLock.currentOwner(directory: directory)
        guard let owner = live ?? RunLock.recordedOwner(directory: directory) else { return nil }
        return LockState(
            pid: owner.pid, host: owner.host, startedAt: owner.startedAt, command: owner.command, isLive: live != nil)
    }

}
