public import CheckpointStore
import DurableFiles
import JSON

/// Adds a `training` section to `resumable status`: whether the run is live,
/// finished or interrupted, epoch x of y, the last and best metrics, a
/// sparkline per metric and the last epochs as a small table. It reads the
/// `training` summary of the newest checkpoint's manifest and the journal;
/// runs without one get no section.
public struct TrainingStatusContributor: RunStatusContributor {
    /// How many of the last epochs are listed one per row.
    public var recentEpochs: Int

    /// A contributor listing the last `recentEpochs` epochs.
    public init(recentEpochs: Int = 5) { self.recentEpochs = recentEpochs }

    public func section(for store: CheckpointStore, status: RunStatus) throws -> RunStatus.Section? {
        guard let latest = try store.checkpoints().last,
            let summary = TrainingSummary(json: latest.manifest.extra[TrainingSummary.manifestKey])
        else { return nil }
        let (state, detail) = Self.state(
            summary: summary, lockIsLive: status.lock?.isLive ?? false, entries: status.history.entries)
        var rows = [RunStatus.Row("state", detail)]
        var progress = "epoch \(summary.completedEpochs) of \(summary.totalEpochs), step \(summary.step)"
        if summary.epochStep > 0 {
            // The counts come from a manifest: the next epoch's number must not trap at Int64.max.
            let (next, overflow) = summary.completedEpochs.addingReportingOverflow(1)
            progress += " (\(summary.epochStep)/\(summary.stepsPerEpoch) batches into epoch \(overflow ? "?" : String(next)))"
        }
        rows.append(RunStatus.Row("progress", progress))
        let metricNames = summary.history.keys.filter { $0 != "epoch" }.sorted()
        let last = Dictionary(uniqueKeysWithValues: metricNames.compactMap { name in
            summary.history[name]?.last.map { (name, $0) }
        })
        if !last.isEmpty { rows.append(RunStatus.Row("last epoch", HumanFormat.metrics(last))) }
        if let best = summary.bestScore {
            var text = "\(summary.monitor) \(HumanFormat.number(best))"
            if let epoch = summary.bestEpoch { text += " at epoch \(epoch)" }
            if let step = summary.bestStep {
                // Never name a checkpoint that is gone: say so when the best epoch's was not kept.
                text += bestCheckpoint(summary, in: store) != nil ? " (step \(step))" : " (step \(step), no checkpoint kept)"
            }
            rows.append(RunStatus.Row("best", text))
        }
        for name in metricNames {
            guard let values = summary.history[name], values.count > 1 else { continue }
            rows.append(RunStatus.Row(name, Sparkline.render(values) + "  \(HumanFormat.number(values.first ?? .nan)) → \(HumanFormat.number(values.last ?? .nan))"))
        }
        let epochs = summary.history["epoch"] ?? []
        for i in epochs.indices.suffix(recentEpochs) {
            let metrics = Dictionary(uniqueKeysWithValues: metricNames.compactMap { name -> (String, Double)? in
                guard let values = summary.history[name], i < values.count, name != "lr" else { return nil }
                return (name, values[i])
            })
            rows.append(RunStatus.Row("epoch \(Int64(epochs[i]))", HumanFormat.metrics(metrics)))
        }
        var json = summary.json
        if case .object(var o) = json {
            o["state"] = .string(state)
            o["checkpoint_step"] = .int(latest.step)
            o["best_checkpoint"] = bestCheckpoint(summary, in: store).map(JSONValue.string) ?? .null
            json = .object(o)
        }
        return RunStatus.Section(id: "training", title: "Training", rows: rows, json: json)
    }

    /// The directory of the checkpoint at the summary's best step, `nil` when there is none.
    func bestCheckpoint(_ summary: TrainingSummary, in store: CheckpointStore) -> String? {
        guard let step = summary.bestStep, step >= 0 else { return nil }
        let directory = store.directory(of: step)
        return FileSystem.exists(FilePath.join(directory, "manifest.json")) ? directory : nil
    }

    /// `live`, `finished`, `interrupted` (a stop signal, state saved) or
    /// `stopped` (killed or crashed), with a sentence.
    static func state(summary: TrainingSummary, lockIsLive: Bool, entries: [JournalEntry]) -> (String, String) {
        if lockIsLive { return ("live", "live: training now") }
        // The training loop's own lines, and a supervised attempt's failure after them.
        let last = entries.last {
            if let name = $0.name(as: JournalEvent.Training.self) { return [.start, .resume, .finish, .interrupt].contains(name) }
            return $0.matches(JournalEvent.Supervisor.fail)
        }
        switch last?.source == .training ? last?.event : nil {
        case "finish":
            return ("finished", "finished (\(last?["reason"]?.stringValue ?? summary.finishReason ?? "completed"))")
        case "interrupt":
            let signal = last?["signal"]?.stringValue ?? "a signal"
            return ("interrupted", "interrupted by \(signal) at step \(last?["step"]?.intValue ?? summary.step), state saved; run again to continue")
        default:
            if summary.isFinished { return ("finished", "finished (\(summary.finishReason ?? "completed"))") }
            return ("stopped", "stopped without saving its end (killed or crashed); run again to continue from step \(summary.step)")
        }
    }
}

/// A one-line chart of a series with block characters (NaN shows as a space).
package enum Sparkline {
    static let blocks: [Character] = ["▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"]

    /// The series as one character per value, scaled between its minimum and maximum;
    /// long series are thinned to `width` values.
    package static func render(_ values: [Double], width: Int = 40) -> String {
        let finite = values.filter(\.isFinite)
        guard let low = finite.min(), let high = finite.max() else { return "" }
        let stride = max(1, (values.count + width - 1) / width)
        let sampled = Swift.stride(from: 0, to: values.count, by: stride).map { values[$0] }
        return String(sampled.map { v -> Character in
            guard v.isFinite else { return " " }
            let level = high > low ? Int(((v - low) / (high - low) * 7).rounded()) : 3
            return blocks[min(7, max(0, level))]
        })
    }
}
