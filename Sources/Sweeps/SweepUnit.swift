public import JSON
public import Pipelines

/// One unit of a sweep: a set of parameter values, keyed by content, with
/// its command, environment and result path substituted.
///
/// The key is a fingerprint of what the unit computes — the command
/// template, the typed parameter values and the environment — so it is the
/// same on every machine and whatever the order of the YAML, and changing any
/// of them makes a new unit (docs/SWEEPS.md, "Unit keys").
public struct SweepUnit: Sendable, Hashable {
    /// Where a unit comes from.
    public enum Origin: Sendable, Hashable {
        /// A combination of the matrix.
        case matrix
        /// An entry of `include`, written there.
        case include(SourceLocation)
    }

    /// The parameters: the matrix's in the file's order, or the include's in its order.
    public var params: [SweepParameter]
    /// The SHA-256 of ``fingerprintText(command:params:envHash:)``, 64 lowercase hex digits.
    public var fingerprint: String
    /// The first 16 hex digits (64 bits) of ``fingerprint``: the unit's name on disk.
    public var key: String
    /// The command with every placeholder substituted (values shell-quoted in a string command).
    public var command: StageCommand
    /// The environment variables set for the unit, substituted.
    public var env: [String: String]
    /// The file the unit's result is read from, absolute.
    public var resultPath: String
    /// `RUN/sweeps/NAME/units/KEY`, absolute: the unit's own run directory (`RESUMABLE_RUN_DIR`).
    public var directory: String
    public var origin: Origin

    public init(
        params: [SweepParameter], fingerprint: String, command: StageCommand, env: [String: String], resultPath: String,
        directory: String, origin: Origin
    ) {
        self.params = params
        self.fingerprint = fingerprint
        self.key = String(fingerprint.prefix(Self.keyLength))
        self.command = command
        self.env = env
        self.resultPath = resultPath
        self.directory = directory
        self.origin = origin
    }

    /// The argument vector that starts the unit: `["/bin/sh", "-c", LINE]` or the list.
    public var argv: [String] { command.argv }

    /// Whether the result file is parsed as JSON (its path ends in `.json`)
    /// rather than recorded by path, size and SHA-256.
    public var resultIsJSON: Bool { resultPath.hasSuffix(".json") }

    /// The value of the parameter `name`, if the unit has it.
    public func value(of name: String) -> SweepValue? { params.first { $0.name == name }?.value }

    /// The parameters as a JSON object (what the unit record holds).
    public var paramsJSON: JSONValue { .object(Dictionary(params.map { ($0.name, $0.value.json) }, uniquingKeysWith: { a, _ in a })) }

    /// `name=value …` in the unit's order, for messages.
    public var label: String { params.map(\.description).joined(separator: " ") }

    /// Hex digits in a key.
    public static let keyLength = 16

    /// The text a unit's fingerprint is the SHA-256 of:
    ///
    /// ```
    /// resumable-sweep-unit 1
    /// command SHA256(command template as written: "sh:" + line, or "argv:" + arguments joined by NUL)
    /// param NAME CANONICAL-JSON      one line per parameter, sorted by name (bytewise)
    /// env ENV-HASH
    /// ```
    /// each line ending in a newline.
    public static func fingerprintText(command: StageCommand, params: [SweepParameter], envHash: String) -> String {
        var text = "resumable-sweep-unit 1\ncommand " + PipelineHash.sha256(command.canonicalText) + "\n"
        for p in params.sorted(by: { Array($0.name.utf8).lexicographicallyPrecedes(Array($1.name.utf8)) }) {
            text += "param " + p.name + " " + p.value.canonicalJSON + "\n"
        }
        return text + "env " + envHash + "\n"
    }

    /// Whether `text` is a key: 16 lowercase hex digits.
    public static func isKey(_ text: String) -> Bool { text.utf8.count == keyLength && isLowercaseHex(text) }

    /// Whether `text` is a fingerprint: 64 lowercase hex digits.
    public static func isFingerprint(_ text: String) -> Bool { text.utf8.count == 64 && isLowercaseHex(text) }

    private static func isLowercaseHex(_ text: String) -> Bool {
        text.utf8.allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains($0) }
    }
}
