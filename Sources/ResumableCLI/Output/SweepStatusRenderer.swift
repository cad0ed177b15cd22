import Resumable

/// Renders a `SweepStatus` for people: a header, the progress line, one
/// small table per parameter (value → done/failed/running/…/pending), then
/// the failed units with the last lines of their logs, the running units
/// (with their Slurm jobs), the interrupted ones, stale and damaged records.
///
/// Every piece read from a file (parameter values, log lines, reasons,
/// paths) is escaped with `Terminal.escapingControlCharacters` here, so the
/// result is written with `Terminal.writePreEscaped` and only the renderer's
/// own colour sequences reach the terminal.
enum SweepStatusRenderer {
    typealias Style = PipelineStatusRenderer.Style

    /// Units listed in each section of the text; `--json` lists them all.
    static let listLimit = 20

    static func render(_ status: SweepStatus, style: Style) -> String {
        let e = Terminal.escapingControlCharacters
        func paint(_ text: String, _ code: String, when: Bool = true) -> String {
            style.colour && when ? "\u{1B}[\(code)m" + text + "\u{1B}[0m" : text
        }
        let c = status.counts
        var out = "sweep     \(e(status.name))\n"
        out += "file      \(e(status.file))\n"
        out += "records   \(e(status.sweepDirectory))\n\n"

        var progress = "Progress: " + paint("\(c.done)/\(status.units.count) done", "32", when: c.done > 0)
        progress += ", " + paint("\(c.failed) failed", "31", when: c.failed > 0)
        progress += ", " + paint("\(c.running) running", "36", when: c.running > 0)
        if c.interrupted > 0 { progress += ", " + paint("\(c.interrupted) interrupted", "33") }
        if c.damaged > 0 { progress += ", " + paint("\(c.damaged) damaged", "31") }
        if c.pending > 0 { progress += ", \(c.pending) pending" }
        out += progress + "\n"

        // One table per parameter; the interrupted and damaged columns only when some unit is.
        var columns: [(String, KeyPath<SweepStatus.Counts, Int>)] = [("DONE", \.done), ("FAILED", \.failed), ("RUNNING", \.running)]
        if c.interrupted > 0 { columns.append(("INTERRUPTED", \.interrupted)) }
        if c.damaged > 0 { columns.append(("DAMAGED", \.damaged)) }
        columns.append(("PENDING", \.pending))
        for parameter in status.parameters {
            var table = TextTable([(e(parameter.name), .left)] + columns.map { ($0.0, .right) })
            for value in parameter.values {
                table.append([value.value.map { e($0.text) } ?? "(unset)"] + columns.map { String(value.counts[keyPath: $0.1]) })
            }
            out += "\n" + table.rendered()
        }

        if !status.failures.isEmpty {
            out += "\nfailed units\n"
            for failure in status.failures.prefix(listLimit) {
                let mark = style.symbols ? paint("\u{2717}", "31") + " " : ""
                var what: [String] = []
                if let code = failure.record.exitCode { what.append("exit \(code)") } else { what.append("no exit code") }
                what.append(failure.record.attempts == 1 ? "1 attempt" : "\(failure.record.attempts) attempts")
                out += "  \(mark)\(failure.unit.key)  \(e(failure.unit.label))  (\(what.joined(separator: ", ")))\n"
                out += "    log \(e(failure.logPath))"
                if let problem = failure.logProblem {
                    out += " (not read: \(e(problem)))\n"
                    for line in failure.record.errorTail.suffix(SweepStatus.logTailLines) { out += "      " + e(line) + "\n" }
                } else {
                    out += failure.logTail.isEmpty ? " (empty)\n" : "\n"
                    for line in failure.logTail { out += "      " + e(line) + "\n" }
                }
            }
            if status.failures.count > listLimit { out += "  … and \(status.failures.count - listLimit) more (`--json` lists them all)\n" }
        }

        if !status.running.isEmpty {
            out += "\nrunning units\n"
            for running in status.running.prefix(listLimit) {
                out += "  \(running.unit.key)  \(e(running.unit.label))"
                if let owner = running.record.owner { out += "  pid \(owner.pid) on \(e(owner.host))" }
                if let started = running.record.startedAt { out += " since \(e(started))" }
                if let task = running.record.slurm {
                    out += "  slurm job \(e(task.jobID))" + (task.arrayTaskID.map { "_\($0)" } ?? "")
                    if let state = running.slurmState { out += " \(e(state))" }
                }
                out += "\n"
            }
            if status.running.count > listLimit { out += "  … and \(status.running.count - listLimit) more (`--json` lists them all)\n" }
            if let problem = status.slurmProblem { out += "  (Slurm states not shown: \(e(problem)))\n" }
        }

        if !status.interrupted.isEmpty {
            out += "\ninterrupted units (they resume at the next `sweep run`)\n"
            for state in status.interrupted.prefix(listLimit) {
                out += "  \(state.unit.key)  \(e(state.unit.label))  (attempt \(state.record?.attempts ?? 0))\n"
            }
            if status.interrupted.count > listLimit { out += "  … and \(status.interrupted.count - listLimit) more (`--json` lists them all)\n" }
        }

        if !status.damaged.isEmpty {
            out += "\ndamaged records (left alone; restore them, or remove them to run the units again)\n"
            for d in status.damaged.prefix(listLimit) {
                out += "  \(d.key)\(d.inSweep ? "" : " (not in the sweep)")  \(e(d.reason))\n"
            }
            if status.damaged.count > listLimit { out += "  … and \(status.damaged.count - listLimit) more (`--json` lists them all)\n" }
        }

        if !status.staleKeys.isEmpty {
            let n = status.staleKeys.count
            out +=
                "\n"
                + (n == 1
                    ? "1 unit recorded earlier is no longer in the sweep (from an earlier matrix, command or env; its record is kept).\n"
                    : "\(n) units recorded earlier are no longer in the sweep (from an earlier matrix, command or env; their records are kept).\n")
        }
        return out
    }
}
