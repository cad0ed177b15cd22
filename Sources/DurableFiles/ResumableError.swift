/// An error from Resumable: a stable code, a sentence for people, the file it
/// concerns, and what caused it.
///
/// New situations get new messages, never new types, so callers that switch on
/// `code` keep working. Every code maps to one documented process exit code.
public struct ResumableError: Error, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    /// The kind of failure; stable across releases.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(_ rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// Bytes on disk do not match what was recorded, or a file is malformed. Exit 65.
        public static let corrupt = Code("corrupt")
        /// A run, checkpoint or file that was asked for does not exist. Exit 66.
        public static let notFound = Code("not-found")
        /// A file or directory could not be created. Exit 73.
        public static let cannotCreate = Code("cannot-create")
        /// Reading or writing failed (disk full, I/O error). Exit 74.
        public static let io = Code("io")
        /// Another live process holds the run's lock. Exit 75.
        public static let locked = Code("locked")
        /// The work was interrupted and its state saved; running again continues. Exit 75.
        public static let interrupted = Code("interrupted")
        /// The request itself is wrong (bad reference, bad option value). Exit 64.
        public static let usage = Code("usage")
        /// The request conflicts with the run (different config, a checkpoint that already exists). Exit 1.
        public static let conflict = Code("conflict")
        /// The file was written by a newer or unknown version of the format. Exit 65.
        public static let unsupportedVersion = Code("unsupported-version")
    }

    /// The kind of failure.
    public var code: Code
    /// What happened and what to do next, as a sentence.
    public var message: String
    /// The file or directory concerned, when there is one.
    public var path: String?
    /// The operating system's error number, when a system call failed.
    public var errno: Int32?
    /// Where the error was thrown, for debugging.
    public var location: String
    /// The error this one wraps (a JSON parser's or encoder's, a decoder's,
    /// a task's), when it was made from one: kept whole for callers and
    /// debugging; ``message`` says what it means for the run.
    /// (`Error` refines `Sendable`, so the cause is `Sendable`.)
    public var cause: (any Error)?

    public init(
        _ code: Code, _ message: String, path: String? = nil, errno: Int32? = nil, cause: (any Error)? = nil,
        file: String = #fileID, line: Int = #line
    ) {
        self.code = code
        self.message = message
        self.path = path
        self.errno = errno
        self.cause = cause
        self.location = "\(file):\(line)"
    }

    /// The process exit code documented for this kind of failure.
    public var exitCode: Int32 {
        switch code {
        case .corrupt, .unsupportedVersion: return 65
        case .notFound: return 66
        case .cannotCreate: return 73
        case .io: return 74
        case .locked, .interrupted: return 75
        case .usage: return 64
        default: return 1
        }
    }

    /// The message, and the cause when the message does not quote it already.
    public var description: String {
        guard let cause else { return message }
        let said = String(describing: cause)
        return message.contains(said) ? message : "\(message) (cause: \(said))"
    }

    /// Everything: code, message, path, errno, where it was thrown, and the cause's own debug description.
    public var debugDescription: String {
        var parts = ["ResumableError(\(code.rawValue)): \(message)"]
        if let path { parts.append("path: \(path)") }
        if let errno { parts.append("errno: \(errno)") }
        parts.append("at: \(location)")
        if let cause { parts.append("cause: \(String(reflecting: cause))") }
        return parts.joined(separator: "; ")
    }
}
