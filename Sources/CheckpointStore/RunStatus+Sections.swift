public import JSON

extension RunStatus {
    /// Every section in display order: the core ones (`identity`, `lock`,
    /// `checkpoints`, `trackers`), the added ones (the supervisor's
    /// `attempts`, `training`, …), and `recent_events` last.
    public var sections: [Section] {
        [identitySection, lockSection, checkpointsSection, trackersSection] + additionalSections + [eventsSection]
    }

    /// The status as JSON: `run` (the directory) and one key per section id.
    public var json: JSONValue {
        var o: [String: JSONValue] = ["run": .string(directory)]
        for section in sections { o[section.id] = section.json }
        return .object(o)
    }

    var identitySection: Section {
        var rows = [Row("id", identity.id.isEmpty ? "(unknown: run.json is missing)" : identity.id), Row("name", identity.name)]
        rows.append(Row("created", identity.createdAt.isEmpty ? "?" : "\(identity.createdAt) (\(HumanFormat.age(of: identity.createdAt)) ago)"))
        rows.append(Row("directory", directory))
        if !identity.configFingerprint.isEmpty { rows.append(Row("config", identity.configFingerprint)) }
        if let m = identity.monitor { rows.append(Row("monitor", "\(m.metric) (\(m.mode.rawValue))")) }
        return Section(
            id: "identity", title: "Run", rows: rows,
            json: [
                "id": .string(identity.id), "name": .string(identity.name), "created_at": .string(identity.createdAt),
                "config_fingerprint": .string(identity.configFingerprint), "monitor": Self.json(identity.monitor),
            ])
    }

    var lockSection: Section {
        guard let lock else {
            return Section(id: "lock", title: "Lock", rows: [Row("holder", "free (no writer holds it)")], json: .null)
        }
        let who = "pid \(lock.pid) on \(lock.host) since \(lock.startedAt)"
        let rows = [
            Row("holder", lock.isLive ? "\(who), running" : "free (last held by \(who), no longer running)"),
        ] + (lock.command.isEmpty ? [] : [Row("command", lock.command)])
        return Section(
            id: "lock", title: "Lock", rows: rows,
            json: [
                "pid": .int(Int64(lock.pid)), "host": .string(lock.host), "started_at": .string(lock.startedAt),
                "command": .string(lock.command), "live": .bool(lock.isLive),
            ])
    }

    var checkpointsSection: Section {
        var count = "\(checkpoints.count), \(HumanFormat.bytes(checkpoints.totalBytes))"
        if !checkpoints.damaged.isEmpty { count += "; \(checkpoints.damaged.count) damaged (see `resumable ls`)" }
        var rows = [Row("count", count)]
        rows.append(Row("latest", checkpoints.latest.map(Self.describe) ?? "none"))
        if let monitor = checkpoints.monitor {
            rows.append(Row("best \(monitor.metric) (\(monitor.mode.rawValue))", checkpoints.best.map(Self.describe) ?? "none records it"))
        }
        return Section(
            id: "checkpoints", title: "Checkpoints", rows: rows,
            json: [
                "count": .int(Int64(checkpoints.count)), "total_bytes": .int(checkpoints.totalBytes),
                "damaged": .array(
                    checkpoints.damaged.map { ["step": .int($0.step), "path": .string($0.directory), "reason": .string($0.reason)] }),
                "latest": checkpoints.latest.map(Self.json) ?? .null, "best": checkpoints.best.map(Self.json) ?? .null,
                "monitor": Self.json(checkpoints.monitor),
            ])
    }

    var trackersSection: Section {
        let rows = trackers.keys.sorted().map { Row($0, trackers[$0]!) }
        return Section(
            id: "trackers", title: "Trackers", rows: rows.isEmpty ? [Row("none", "no tracker run recorded")] : rows,
            json: .object(trackers.mapValues { .string($0) }))
    }

    var eventsSection: Section {
        let rows = recentEvents.map { Row($0["time"]?.stringValue ?? "?", Self.describe(event: $0, withTime: false)) }
        return Section(
            id: "recent_events", title: "Recent events", rows: rows.isEmpty ? [Row("none", "events.jsonl is empty")] : rows,
            json: .array(recentEvents))
    }

    /// `step 1200 · epoch 3 · loss=0.12 · 5m ago`.
    static func describe(_ c: CheckpointBrief) -> String {
        var parts = ["step \(c.step)", "epoch \(c.epoch)"]
        if !c.metrics.isEmpty { parts.append(HumanFormat.metrics(c.metrics)) }
        parts.append("\(HumanFormat.age(of: c.createdAt)) ago")
        return parts.joined(separator: " · ")
    }

    /// `store save step=1200 epoch=3`: the writer, the event and its fields
    /// (with the time first unless `withTime` is false).
    public static func describe(event: JSONValue, withTime: Bool = true) -> String {
        let o = event.objectValue ?? [:]
        var parts: [String] = []
        if withTime, let time = o["time"]?.stringValue { parts.append(time) }
        if let entry = JournalEntry(json: event) {
            parts.append("\(entry.source) \(entry.event)")
        } else {
            parts.append(o["event"]?.stringValue ?? "?")
        }
        for key in o.keys.sorted() where key != "time" && key != "event" && key != "source" {
            let value = o[key]!
            parts.append("\(key)=\(value.stringValue ?? value.serialized())")
        }
        return parts.joined(separator: " ")
    }

    static func json(_ c: CheckpointBrief) -> JSONValue {
        [
            "step": .int(c.step), "epoch": .int(c.epoch), "created_at": .string(c.createdAt),
            "metrics": .object(c.metrics.mapValues { JSONValue.number($0) }), "path": .string(c.directory),
            "bytes": .int(c.bytes),
        ]
    }

    static func json(_ monitor: Monitor?) -> JSONValue {
        guard let monitor else { return .null }
        return ["metric": .string(monitor.metric), "mode": .string(monitor.mode.rawValue)]
    }
}
