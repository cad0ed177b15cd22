import Resumable

/// What `resumable sweep run` shows on standard error as units start and
/// end: on a terminal, one live line rewritten in place (about twice a
/// second), with a lasting line for each unit that fails or is stopped; when
/// piped (or with `--echo`), one plain line per unit end.
struct SweepProgressRenderer {
    /// Rewrite one line in place (a terminal), or print a line per unit end.
    let live: Bool
    private var line = Progress()

    init(live: Bool) { self.live = live }

    mutating func handle(_ event: SweepEvent) {
        switch event {
        case .progress(let progress), .started(_, _, _, let progress):
            if live { line.update(Self.line(progress)) }
        case .stopping(let signal, let running):
            lasting("Received \(SignalName.name(of: signal)): stopping \(running) running unit\(running == 1 ? "" : "s"); no further unit starts.")
        case .ended(let end):
            if live {
                if end.outcome == .failed || end.outcome == .interrupted { lasting(Self.line(end)) }
                line.update(Self.line(end.progress))
            } else if !(end.outcome == .skipped && end.skipReason == .stopped) {
                Terminal.writeError(Self.line(end) + "\n")
            }
        }
    }

    /// Erases the live line (before the summary).
    mutating func finish() { line.finish() }

    /// A line that stays: the live line is erased first, and redrawn by the next update.
    private mutating func lasting(_ text: String) {
        line.finish()
        Terminal.writeError(text + "\n")
    }

    /// `sweep NAME: 3/18 done · 1 failed · 2 running · 1m02s elapsed · ETA 4m10s`.
    static func line(_ p: SweepProgress) -> String {
        var parts = ["sweep \(p.name): \(p.done)/\(p.total) done"]
        if p.failed > 0 { parts.append("\(p.failed) failed") }
        parts.append("\(p.running) running")
        if p.elsewhere > 0 { parts.append("\(p.elsewhere) elsewhere") }
        parts.append("\(clock(p.elapsed)) elapsed")
        if let eta = p.eta, p.running + p.queued > 0 { parts.append("ETA \(clock(eta))") }
        return parts.joined(separator: " · ")
    }

    /// `done   rep=a layers=b (KEY) in 12.3 s [4/18]`, `failed … after 1.0 s: exit 3 … [4/18]`.
    static func line(_ end: SweepUnitEnd) -> String {
        let unit = "\(oneLine(end.label)) (\(end.key))"
        let count = "[\(end.progress.done)/\(end.progress.total)]"
        let took = end.duration.map { SweepRunner.duration($0) } ?? "?"
        switch end.outcome {
        case .done:
            return "done    \(unit) in \(took) \(count)"
        case .failed:
            // The message names the unit's exit code (the record's `exit_code` is the supervisor's when it gave up).
            var text = "failed  \(unit) after \(took): \(oneLine(end.message))"
            if end.willRetry { text += "; starting it again (attempt \(end.attempt + 1))" }
            return text + " \(count)"
        case .interrupted:
            return "stopped \(unit) after \(took): \(oneLine(end.message))"
        case .skipped:
            return "skipped \(unit): \(oneLine(end.message))"
        }
    }

    /// `45s`, `1m02s`, `2h05m`.
    static func clock(_ seconds: Double) -> String {
        guard seconds.isFinite else { return "?" }
        let s = Int(max(0, seconds).rounded())
        if s < 60 { return "\(s)s" }
        if s < 3600 { return "\(s / 60)m" + (s % 60 < 10 ? "0" : "") + "\(s % 60)s" }
        let m = (s % 3600) / 60
        return "\(s / 3600)h" + (m < 10 ? "0" : "") + "\(m)m"
    }

    /// Text on one line: newlines shown as `\n`.
    static func oneLine(_ text: String) -> String {
        guard text.contains(where: { $0 == "\n" || $0 == "\r" || $0 == "\r\n" }) else { return text }
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}
