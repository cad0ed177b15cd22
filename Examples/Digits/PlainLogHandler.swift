import Foundation
import Logging

/// Log lines on stderr as `digits: message` (warnings say so).
struct PlainLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = ProcessInfo.processInfo.environment["DIGITS_DEBUG"] == nil ? .info : .debug
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let prefix = event.level >= .warning ? "digits: \(event.level): " : "digits: "
        let clear = isatty(STDERR_FILENO) == 1 ? "\r\u{1B}[K" : ""
        FileHandle.standardError.write(Data((clear + prefix + "\(event.message)\n").utf8))
    }
}
