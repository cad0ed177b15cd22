import Resumable

/// The checkpoints of a run with their state, as `ls` shows them.
struct CheckpointListing {
    /// The state of one checkpoint.
    enum State: String {
        case ok, corrupt, unverified
    }

    /// One checkpoint (or damaged step directory).
    struct Entry {
        var step: Int64
        /// `nil` for a step directory whose manifest cannot be read.
        var checkpoint: Checkpoint?
        var directory: String
        var state: State
        /// Why it is corrupt.
        var problem: String?
    }

    /// Every entry, ordered by step.
    var entries: [Entry] = []
    /// The highest step that is not corrupt.
    var latest: Int64?
    /// The best step that is not corrupt, by the monitor.
    var best: Int64?
    /// The monitor `best` was chosen by.
    var monitor: Monitor?

    /// Lists the run of `store`.
    /// - Parameters:
    ///   - verify: hash every file (otherwise only sizes are checked).
    ///   - monitor: the metric for `best`; `nil` uses the run's.
    init(store: CheckpointStore, verify: Bool, monitor: Monitor?) throws {
        let scan = try store.scan()
        var progress = Progress()
        for (i, checkpoint) in scan.checkpoints.enumerated() {
            let problems: [FileProblem]
            if verify {
                progress.update("verifying \(Checkpoint.directoryName(step: checkpoint.step)) (\(i + 1)/\(scan.checkpoints.count))")
                problems = try store.verify(checkpoint).problems
            } else {
                problems = CheckpointStore.quickCheck(checkpoint)
            }
            let state: State = problems.isEmpty ? (verify ? .ok : .unverified) : .corrupt
            entries.append(
                Entry(
                    step: checkpoint.step, checkpoint: checkpoint, directory: checkpoint.directory, state: state,
                    problem: problems.isEmpty ? nil : problems.map(\.description).joined(separator: "; ")))
        }
        progress.finish()
        for damaged in scan.damaged {
            entries.append(Entry(step: damaged.step, checkpoint: nil, directory: damaged.directory, state: .corrupt, problem: damaged.reason))
        }
        entries.sort { $0.step < $1.step }
        let usable = entries.filter { $0.state != .corrupt }.compactMap(\.checkpoint)
        latest = usable.last?.step
        self.monitor = monitor ?? store.run.monitor
        best = self.monitor.flatMap { CheckpointStore.best(in: usable, by: $0) }?.step
    }

    /// The `ls --json` document.
    func json(run: String) -> JSONValue {
        .object([
            "run": .string(run),
            "latest": latest.map { .int($0) } ?? .null,
            "best": best.map { .int($0) } ?? .null,
            "checkpoints": .array(entries.map(Self.json)),
        ])
    }

    static func json(_ entry: Entry) -> JSONValue {
        let manifest = entry.checkpoint?.manifest
        return .object([
            "step": .int(entry.step),
            "epoch": manifest.map { .int($0.epoch) } ?? .null,
            "created_at": manifest.map { .string($0.createdAt) } ?? .null,
            "metrics": .object((manifest?.metrics ?? [:]).mapValues { JSONValue.number($0) }),
            "tags": .array((manifest?.tags ?? []).map { .string($0) }),
            "bytes": .int(entry.checkpoint?.bytes ?? 0),
            "path": .string(entry.directory),
            "state": .string(entry.state.rawValue),
        ])
    }

    /// The table `ls` prints, with a summary line.
    func table() -> String {
        var table = TextTable([
            ("STEP", .right), ("EPOCH", .right), ("METRICS", .left), ("SIZE", .right), ("AGE", .right), ("TAGS", .left),
            ("STATE", .left),
        ])
        let now = Timestamp.currentTime()
        for entry in entries {
            guard let c = entry.checkpoint else {
                table.append([String(entry.step), "-", "-", "-", "-", "-", entry.state.rawValue])
                continue
            }
            var marks: [String] = []
            if entry.step == latest { marks.append("latest") }
            if entry.step == best { marks.append("best") }
            table.append([
                String(entry.step), String(c.manifest.epoch), HumanFormat.metrics(c.manifest.metrics),
                HumanFormat.bytes(c.bytes), HumanFormat.age(of: c.manifest.createdAt, now: now),
                c.manifest.tags.joined(separator: ","),
                entry.state.rawValue + (marks.isEmpty ? "" : " (" + marks.joined(separator: ", ") + ")"),
            ])
        }
        var text = table.rendered()
        let corrupt = entries.filter { $0.state == .corrupt }.count
        var summary = "\(entries.count) checkpoint\(entries.count == 1 ? "" : "s")"
        if corrupt > 0 { summary += ", \(corrupt) corrupt" }
        summary += "; latest: " + (latest.map { "step \($0)" } ?? "none")
        if let monitor {
            summary += "; best \(monitor.metric) (\(monitor.mode.rawValue)): " + (best.map { "step \($0)" } ?? "none")
        }
        text += summary + "\n"
        for entry in entries where entry.state == .corrupt {
            text += "corrupt: \(Checkpoint.directoryName(step: entry.step)): \(entry.problem ?? "damaged")\n"
        }
        return text
    }
}
