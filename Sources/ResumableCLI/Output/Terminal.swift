#if canImport(Glibc)
import Glibc
#endif
import Resumable

/// The process's standard streams: data goes to standard output, logs,
/// errors and progress to standard error.
enum Terminal {
    /// Writes text to standard output (buffered).
    static func write(_ text: String) {
        print(text, terminator: "")
    }

    /// Writes a JSON document (sorted keys, indented) to standard output.
    static func writeJSON(_ value: JSONValue) {
        write(value.prettyPrinted())
    }

    /// Writes text to standard error at once, unbuffered.
    static func writeError(_ text: String) {
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
        Terminal.writeError("\r\u{1B}[K" + text)
        shown = true
    }

    /// Erases the progress line.
    mutating func finish() {
        guard enabled, shown else { return }
        Terminal.writeError("\r\u{1B}[K")
        shown = false
    }
}
