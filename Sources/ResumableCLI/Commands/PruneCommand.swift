import ArgumentParser
import Resumable

/// `resumable prune RUN`: apply retention rules.
struct PruneCommand: ParsableCommand, LoggingConfigurable {
    static let configuration = CommandConfiguration(
        commandName: "prune",
        abstract: "Delete the checkpoints no retention rule keeps (crash-safe).",
        discussion: """
            A checkpoint is kept when any rule keeps it. The latest and the best checkpoint and
            those tagged `pinned` are always kept. --dry-run shows what would be deleted.
            """)

    @Argument(help: ArgumentHelp("The run directory.", valueName: "run"))
    var runDirectory: String

    @OptionGroup var retention: RetentionOptions
    @OptionGroup var monitor: MonitorOptions

    @Flag(help: "Show what would be deleted; delete nothing.")
    var dryRun = false

    @OptionGroup var output: OutputOptions
    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        if retention.isEmpty {
            throw ValidationError("give at least one rule: --keep-last N, --keep-best K or --keep-every N.")
        }
    }

    func run() throws {
        let store = try References.openRun(runDirectory, access: dryRun ? .read : .write)
        guard let policy = try retention.policy(monitor: monitor.value, run: store.run) else { return }
        let report = try store.prune(policy, dryRun: dryRun)
        if output.json {
            Terminal.writeJSON(Self.json(report))
        } else {
            Terminal.write(Self.text(report))
        }
    }

    static func json(_ report: PruneReport) -> JSONValue {
        .object([
            "dry_run": .bool(report.dryRun),
            "kept": .array(report.kept.map { .object(["step": .int($0.step), "reasons": .array($0.reasons.map { .string($0) })]) }),
            "deleted": .array(report.deleted.map { .int($0) }),
            "bytes_freed": .int(report.bytesFreed),
        ])
    }

    static func text(_ report: PruneReport) -> String {
        var out = ""
        for kept in report.kept { out += "keep    step \(kept.step): \(kept.reasons.joined(separator: ", "))\n" }
        for step in report.deleted { out += "\(report.dryRun ? "would delete" : "deleted") step \(step)\n" }
        let count = "\(report.deleted.count) checkpoint\(report.deleted.count == 1 ? "" : "s")"
        out += report.dryRun
            ? "Would delete \(count), freeing \(HumanFormat.bytes(report.bytesFreed)) (dry run: nothing was deleted).\n"
            : "Deleted \(count), freed \(HumanFormat.bytes(report.bytesFreed)).\n"
        return out
    }
}
