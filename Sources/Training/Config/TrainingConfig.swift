public import JSON
import DurableFiles

/// A run's configuration: flat keys to JSON values, fingerprinted so a
/// resume with another configuration is caught.
///
/// The fingerprint is the SHA-256 of the canonical JSON (sorted keys, no
/// spaces) of the values; it is stored in `run.json` with the config itself,
/// so a mismatch can name the keys that differ.
public struct TrainingConfig: Sendable, Hashable {
    /// The values.
    public var values: [String: JSONValue]
    /// Keys that may change when resuming (`lr`, `epochs`).
    public var changeableKeys: Set<String>

    /// A configuration.
    public init(_ values: [String: JSONValue], changeableKeys: Set<String> = []) {
        self.values = values
        self.changeableKeys = changeableKeys
    }

    /// `sha256:` and the hex SHA-256 of the canonical JSON of `values`.
    public var fingerprint: String { Self.fingerprint(of: values) }

    /// The fingerprint of any flat config.
    public static func fingerprint(of values: [String: JSONValue]) -> String {
        let canonical = JSONValue.object(values).serialized()
        return "sha256:" + Array(canonical.utf8).withUnsafeBytes { Checksum.sha256($0) }
    }

    /// One key whose value differs.
    public struct Difference: Sendable, Hashable, CustomStringConvertible {
        /// The key.
        public var key: String
        /// Its value in the run (`nil` when the run did not have it).
        public var recorded: JSONValue?
        /// Its value now (`nil` when it was dropped).
        public var requested: JSONValue?

        public var description: String {
            "\(key): \(recorded.map { $0.serialized() } ?? "(absent)") → \(requested.map { $0.serialized() } ?? "(absent)")"
        }
    }

    /// The keys whose values differ from `recorded`, sorted by key.
    public func differences(from recorded: [String: JSONValue]) -> [Difference] {
        Set(values.keys).union(recorded.keys).sorted().compactMap { key in
            recorded[key] == values[key] ? nil : Difference(key: key, recorded: recorded[key], requested: values[key])
        }
    }
}
