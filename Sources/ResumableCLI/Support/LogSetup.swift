#if canImport(Glibc)
import Glibc
#endif
import Logging

/// Bootstraps swift-log once for the process: every logger writes
/// `resumable: [level: ]message` lines to standard error, so library notices
/// (lock take-over, fallback past a corrupt checkpoint) reach the user.
enum LogSetup {
    /// The level when neither a flag nor `RESUMABLE_LOG_LEVEL` says otherwise.
    static let defaultLevel: Logger.Level = .notice

    /// Sets up logging; the level is `requested` (from `--verbose`/`--quiet`),
    /// else `RESUMABLE_LOG_LEVEL`, else the command's default, else `notice`.
    static func bootstrap(requested: Logger.Level?, commandDefault: Logger.Level? = nil) {
        let level = requested ?? environmentLevel() ?? commandDefault ?? defaultLevel
        LoggingSystem.bootstrap { label in
            var handler = StandardErrorLogHandler(label: label)
            handler.logLevel = level
            return handler
        }
    }

    /// The level named by `RESUMABLE_LOG_LEVEL` (`trace` … `critical`), or `nil`.
    static func environmentLevel() -> Logger.Level? {
        guard let raw = getenv("RESUMABLE_LOG_LEVEL") else { return nil }
        let name = String(cString: raw).lowercased()
        if name == "warn" { return .warning }
        return Logger.Level(rawValue: name)
    }
}

/// A log handler writing one line per message to standard error.
struct StandardErrorLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .notice
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var prefix: String
        switch event.level {
        case .trace, .debug: prefix = "resumable: debug: "
        case .info, .notice: prefix = "resumable: "
        case .warning: prefix = "resumable: warning: "
        case .error, .critical: prefix = "resumable: error: "
        }
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        // A pipeline stage's messages start with its name.
        if let stage = merged.removeValue(forKey: "stage") { prefix += "stage \(stage): " }
        let suffix = merged.isEmpty ? "" : " " + merged.keys.sorted().map { "\($0)=\(merged[$0]!)" }.joined(separator: " ")
        Terminal.writeError(prefix + "\(event.message)" + suffix + "\n")
    }
}
