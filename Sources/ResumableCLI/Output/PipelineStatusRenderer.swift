import Resumable

/// Renders a `PipelineStatus` for people: a header (pipeline, file, run, the
/// live `pipeline run`), one table row per stage (with a PROBLEM column when
/// a stage's directory has one), the verdict, then the stages' latest
/// checkpoints, trackers and last error lines.
///
/// Every piece read from a file (stage names from a ledger, error lines,
/// paths) is escaped with `Terminal.escapingControlCharacters` here, so the
/// result is written with `Terminal.writePreEscaped` and only the renderer's
/// own colour sequences reach the terminal.
enum PipelineStatusRenderer {
    /// How statuses are shown.
    struct Style {
        /// `✓ completed` instead of `completed`.
        var symbols: Bool
        /// ANSI colours on the status.
        var colour: Bool

        static let plain = Style(symbols: false, colour: false)

        /// Symbols on a terminal, colours when the terminal takes them; plain words when piped.
        static var standardOutput: Style {
            Style(symbols: Terminal.standardOutputIsTerminal, colour: Terminal.standardOutputIsColoured)
        }
    }

    static func symbol(_ status: StageStatus) -> String {
        switch status {
        case .completed: return "\u{2713}"
        case .inProgress: return "\u{25B6}"
        case .failed: return "\u{2717}"
        case .interrupted: return "\u{23F8}"
        case .notStarted: return "\u{00B7}"
        case .skipped: return "\u{293C}"
        }
    }

    /// The SGR colour of a status, `nil` for none.
    static func colour(_ status: StageStatus) -> String? {
        switch status {
        case .completed: return "32"
        case .failed: return "31"
        case .interrupted: return "33"
        case .inProgress: return "36"
        case .notStarted, .skipped: return nil
        }
    }

    /// `45s`, `12m 03s`, `3h 07m`, `2d 05h`.
    static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite else { return "?" }
        let s = Int(max(0, seconds))
        func two(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
        if s < 60 { return "\(s)s" }
        if s < 3600 { return "\(s / 60)m \(two(s % 60))s" }
        if s < 86400 { return "\(s / 3600)h \(two(s % 3600 / 60))m" }
        return "\(s / 86400)d \(two(s % 86400 / 3600))h"
    }

    static func render(_ status: PipelineStatus, style: Style) -> String {
        let e = Terminal.escapingControlCharacters
        var out = "pipeline  \(e(status.name))\n"
        if let file = status.file { out += "file      \(e(file))\n" }
        out += "run       \(e(status.run))\(status.ledgerFound ? "" : " (no stages.json: never run)")\n"
        if let running = status.running {
            out += "running   pid \(running.pid) on \(e(running.host)) since \(e(running.startedAt))\n"
        }
        out += "\n"

        // The table, padded on the plain text; the colour wraps the status word only.
        // A PROBLEM column only when a stage's directory has one (a link, a damaged run…).
        let anyProblem = status.stages.contains { !$0.problems.isEmpty }
        let headers = ["STAGE", "STATUS", "PROGRESS", "ATTEMPTS", "OUTPUTS", "COMPLETED", "DURATION"] + (anyProblem ? ["PROBLEM"] : [])
        var rows: [[String]] = []
        for stage in status.stages {
            let word = style.symbols ? symbol(stage.status) + " " + stage.status.rawValue : stage.status.rawValue
            let outputs = stage.outputs.isEmpty
                ? "-" : stage.outputs.map { "\(FilePath.lastComponent(of: $0.path)) \(HumanFormat.bytes($0.bytes))" }.joined(separator: ", ")
            var duration = "-"
            if let seconds = stage.durationSeconds {
                duration = stage.status == .inProgress ? "running for " + Self.duration(seconds) : Self.duration(seconds)
            }
            var attempts = String(stage.attempts)
            if stage.status == .failed, let code = stage.exitCode { attempts += " (exit \(code))" }
            rows.append([
                e(stage.name), word, stage.progressText.isEmpty ? "-" : e(stage.progressText), attempts, e(outputs),
                stage.completedAt.map(e) ?? "-", duration,
            ] + (anyProblem ? [stage.problems.isEmpty ? "-" : e(stage.problems.joined(separator: "; "))] : []))
        }
        var widths = headers.map(\.count)
        for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
        func line(_ cells: [String], status: StageStatus?) -> String {
            var text = ""
            for (i, cell) in cells.enumerated() {
                if i > 0 { text += "  " }
                let pad = String(repeating: " ", count: widths[i] - cell.count)
                if i == 1, let status, style.colour, let code = colour(status) {
                    text += "\u{1B}[\(code)m" + cell + "\u{1B}[0m" + pad
                } else {
                    text += cell + pad
                }
            }
            while text.hasSuffix(" ") { text.removeLast() }
            return text + "\n"
        }
        out += line(headers, status: nil)
        for (row, stage) in zip(rows, status.stages) { out += line(row, status: stage.status) }
        if status.stages.isEmpty { out += "(no stages)\n" }

        out += "\n" + e(status.verdict) + "\n"
        for note in status.notes { out += "note: \(e(note))\n" }

        let nameWidth = status.stages.map { e($0.name).count }.max() ?? 0
        func label(_ name: String) -> String { "  " + e(name) + String(repeating: " ", count: max(0, nameWidth - e(name).count)) + "  " }

        let withCheckpoint = status.stages.filter { $0.latestCheckpoint != nil }
        if !withCheckpoint.isEmpty {
            out += "\nlatest checkpoints\n"
            for stage in withCheckpoint {
                let c = stage.latestCheckpoint!
                out += label(stage.name) + "step \(c.step), epoch \(c.epoch)  \(e(c.path))\n"
            }
        }
        let withTrackers = status.stages.filter { !$0.trackers.isEmpty }
        if !withTrackers.isEmpty {
            out += "\ntrackers\n"
            for stage in withTrackers {
                out += label(stage.name) + stage.trackers.keys.sorted().map { "\(e($0)) \(e(stage.trackers[$0]!))" }.joined(separator: ", ") + "\n"
            }
        }
        let failed = status.stages.filter { $0.status == .failed && !$0.errorTail.isEmpty }
        if !failed.isEmpty {
            out += "\nlast error lines\n"
            for stage in failed {
                out += label(stage.name) + (stage.exitCode.map { "exit \($0)" } ?? "failed") + "\n"
                for errorLine in stage.errorTail.suffix(5) { out += "      " + e(errorLine) + "\n" }
            }
        }
        return out
    }
}
