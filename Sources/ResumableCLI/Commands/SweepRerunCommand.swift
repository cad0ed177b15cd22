import ArgumentParser
import Logging
import Resumable

/// `resumable sweep rerun FILE --where K=V … | --failed | --all`: reopens units so the next `sweep run` runs them again.
struct SweepRerunCommand: ParsableCommand, LoggingConfigurable {
    static let configuration = CommandConfiguration(
        commandName: "rerun",
        abstract: "Reopen units of a sweep so the next `sweep run` runs them again, from scratch.",
        discussion: """
            Selects units with --where NAME=VALUE (repeatable; every pair must hold; VALUE is \
            matched against the value's text, `lr=0.1` the float 0.1, `rep=a` the string a), \
            --failed (units whose last attempt failed; with --where, those among them) or --all. \
            Each selected unit that has run is reopened under its claim: its run directory \
            (RUN/sweeps/NAME/units/KEY, with its checkpoints) is moved to \
            RUN/sweeps/NAME/previous/KEY (replacing an older one), and its record becomes pending \
            with 0 attempts. Its log is kept (the next attempt is appended). A unit running in \
            another process is not touched: it is listed in a warning, and the exit code is still 0. \
            Exit 64 for a parameter the sweep does not have or a value no unit has (both listed).
            """)

    @OptionGroup var sweep: SweepFileOptions

    @Option(name: .customLong("where"), help: ArgumentHelp("Units whose parameter NAME has VALUE (repeatable: all must hold).", valueName: "name=value"))
    var pairs: [String] = []

    @Flag(name: .customLong("failed"), help: "Units whose last attempt failed.")
    var failed = false

    @Flag(name: .customLong("all"), help: "Every unit of the sweep.")
    var all = false

    @OptionGroup var output: OutputOptions
    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        if all && (failed || !pairs.isEmpty) { throw ValidationError("--all selects every unit; it cannot be used with --where or --failed.") }
        if !all && !failed && pairs.isEmpty { throw ValidationError("Say which units to reopen: --where NAME=VALUE (repeatable), --failed or --all.") }
        for pair in pairs { _ = try KeyValueArgument.split(pair, option: "--where") }
    }

    func run() throws {
        let spec = try sweep.load()
        let selection = SweepRerun.Selection(
            pairs: try pairs.map { try KeyValueArgument.split($0, option: "--where") }.map { (name: $0.key, value: $0.value) },
            failedOnly: failed, all: all)
        let report = try SweepRerun.reopen(selection, spec: spec)
        let skipped = report.skipped
        if !skipped.isEmpty {
            var warning = "\(skipped.count) selected unit\(skipped.count == 1 ? " was" : "s were") not reopened:"
            for s in skipped { warning += "\n  \(s.unit.key)  \(s.unit.label): \(s.reason)" }
            References.logger.warning("\(warning)")
        }
        if output.json {
            Terminal.writeJSON(report.json)
            return
        }
        let reopened = report.reopened
        var out = ""
        if reopened.isEmpty {
            out += failed ? "No failed unit to reopen.\n" : "Nothing to reopen.\n"
        } else {
            out += "Reopened \(reopened.count) unit\(reopened.count == 1 ? "" : "s"); the next `sweep run` runs \(reopened.count == 1 ? "it" : "them") from scratch:\n"
            for r in reopened {
                var line = "  \(r.unit.key)  \(r.unit.label)  (was \(r.previousStatus.rawValue)"
                if let moved = r.movedTo { line += "; its run directory is kept in \(moved)" }
                out += line + ")\n"
            }
        }
        let notStarted = report.notStarted
        if !notStarted.isEmpty {
            out += "\(notStarted.count) selected unit\(notStarted.count == 1 ? " has" : "s have") not run yet (nothing to reopen).\n"
        }
        if !skipped.isEmpty {
            out += "\(skipped.count) selected unit\(skipped.count == 1 ? " was" : "s were") not reopened (see the warning above).\n"
        }
        Terminal.write(out)
    }
}
