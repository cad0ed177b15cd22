#if canImport(Glibc)
import Glibc
#endif
import Resumable

/// The process's standard streams: data goes to standard output, logs,
/// errors and progress to standard error.
///
/// Text can hold names read from a run's files (metric names, tags, file
/// names, paths), which a hostile file may fill with terminal escape
/// sequences; every line of text is shown with its control characters
/// escaped (`\u{1B}` as `\x1b`), so no file can move the cursor, retitle
/// the window or hide a line. JSON output escapes them by itself.
enum Terminal {
    /// Writes text to standard output (buffered), control characters escaped.
    static func write(_ text: String) {
        print(escapingControlCharacters(text), terminator: "")
    }

    /// `text` with every control character but newline and tab shown as
    /// `\xHH` (C0, DEL) or `\u{HHHH}` (C1), so it cannot steer a terminal.
    static func escapingControlCharacters(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: isControl) else { return text }
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            guard isControl(scalar) else {
                out.append(scalar)
                continue
            }
            let hex = String(scalar.value, radix: 16)
            let escaped = scalar.value <= 0x7F ? "\\x" + (hex.count < 2 ? "0" : "") + hex : "\\u{" + hex + "}"
            out.append(contentsOf: escaped.unicodeScalars)
        }
        return String(out)
    }

    private static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        let v = scalar.value
        return (v < 0x20 && v != 0x0A && v != 0x09) || v == 0x7F || (0x80...0x9F).contains(v)
    }

    /// Writes text to standard output as it is: for text whose pieces read
    /// from files were escaped with `escapingControlCharacters` already and
    /// which adds its own colour sequences (`PipelineStatusRenderer`).
    static func writePreEscaped(_ text: String) {
        print(text, terminator: "")
    }

    /// Whether standard output is a terminal (symbols instead of words there).
    static var standardOutputIsTerminal: Bool { isatty(STDOUT_FILENO) == 1 }

    /// Whether to colour standard output: a terminal, `NO_COLOR` unset or
    /// empty (no-color.org), and `TERM` not `dumb`.
    static var standardOutputIsColoured: Bool {
        guard standardOutputIsTerminal else { return false }
        if let noColour = getenv("NO_COLOR"), noColour.pointee != 0 { return false }
        if let term = getenv("TERM"), String(cString: term) == "dumb" { return false }
        return true
    }

    /// Writes a JSON document (sorted keys, indented) to standard output.
    static func writeJSON(_ value: JSONValue) {
        write(value.prettyPrinted())
    }

    /// Writes a message to standard error at once, unbuffered, control characters escaped.
    static func writeError(_ text: String) {
        writeErrorRaw(escapingControlCharacters(text))
    }

    /// Writes to standard error as it is (the progress line's own escapes).
    fileprivate static func writeErrorRaw(_ text: String) {
        var bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeMutableBytes { raw in
                Glibc.write(STDERR_FILENO, raw.baseAddress! + offset, raw.count - offset)
            }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            offset += n
        }
    }

    /// Flushes buffered standard output (before exiting).
    static func flushStandardOutput() {
        fflush(nil)
    }

    /// Whether standard error is a terminal (progress is shown only then).
    static var standardErrorIsTerminal: Bool { isatty(STDERR_FILENO) == 1 }
}

/// A one-line progress indicator on standard error, shown only on a terminal.
struct Progress {
    private let enabled = Terminal.standardErrorIsTerminal
    private var shown = false

    /// Replaces the progress line.
    mutating func update(_ text: String) {
        guard enabled else { return }
        Terminal.writeErrorRaw("\r\u{1B}[K" + Terminal.escapingControlCharacters(text))
        shown = true
    }

    /// Erases the progress line.
    mutating func finish() {
        guard enabled, shown else { return }
        Terminal.writeErrorRaw("\r\u{1B}[K")
        shown = false
    }
}
