import ArgumentParser
import Resumable

/// `resumable reset RUN [--to STEP]`: delete a run's checkpoints, or those after a step.
struct ResetCommand: ParsableCommand, LoggingConfigurable {
    static let configuration = CommandConfiguration(
        commandName: "reset",
        abstract: "Delete every checkpoint of RUN, or with --to STEP those after STEP (crash-safe; pinned ones too).",
        discussion: """
            The run then starts over, or resumes from STEP as if nothing had been saved after it.
            Checkpoints tagged `pinned` are deleted too: a reset is explicit. Each checkpoint is
            renamed into checkpoints/.trash/ and removed, newest first, so an interrupted reset leaves
            an earlier state of the run; run it again to finish. The run's identity, run.json and
            the journal are kept; the journal records `reset`. Under `resumable run`,
            RESUMABLE_LOCK_TOKEN lets this command write while the supervisor holds the run's lock.
            """)

    @Argument(help: ArgumentHelp("The run directory.", valueName: "run"))
    var runDirectory: String

    @Option(help: ArgumentHelp("Keep the checkpoint at STEP and those before it (STEP must exist).", valueName: "step"))
    var to: Int64?

    @OptionGroup var output: OutputOptions
    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        if let to, to < 0 { throw ValidationError("--to must be 0 or more, not \(to).") }
    }

    func run() throws {
        let store = try References.openRun(runDirectory, access: .write)
        let report = try store.reset(to: to)
        if output.json {
            Terminal.writeJSON(Self.json(report))
        } else {
            Terminal.write(Self.text(report, run: store.directory))
        }
    }

    static func json(_ report: ResetReport) -> JSONValue {
        .object([
            "deleted": .array(report.deleted.map { .int($0) }),
            "bytes_freed": .int(report.bytesFreed),
            "to": report.to.map { .int($0) } ?? .null,
        ])
    }

    static func text(_ report: ResetReport, run: String) -> String {
        let kept = report.to.map { "step \($0) is the latest" } ?? "the run has no checkpoint"
        guard !report.deleted.isEmpty else {
            let after = report.to.map { " after step \($0)" } ?? ""
            return "Nothing to delete: \(run) has no checkpoint\(after); \(kept).\n"
        }
        var out = ""
        for step in report.deleted {
            out += "deleted step \(step)\(report.pinned.contains(step) ? " (pinned)" : "")\n"
        }
        let count = "\(report.deleted.count) checkpoint\(report.deleted.count == 1 ? "" : "s")"
        out += "Deleted \(count), freed \(HumanFormat.bytes(report.bytesFreed)); \(kept).\n"
        return out
    }
}
