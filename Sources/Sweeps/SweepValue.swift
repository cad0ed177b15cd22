public import JSON

/// A parameter's value: a YAML scalar with its type.
///
/// The type is part of the value: `1` (an integer), `"1"` (a string) and
/// `1.0` (a float) are three different values, so three different units.
/// Values are never null, a list or a mapping, and floats are finite.
public enum SweepValue: Sendable, Hashable, CustomStringConvertible {
    /// A quoted scalar, or a plain one that is no other type.
    case string(String)
    /// A 64-bit integer (`7`, `-3`, `0x1F`, `0o17`).
    case int(Int64)
    /// A finite double (`1.0`, `3e-4`, `.5`).
    case float(Double)
    /// `true` or `false`.
    case bool(Bool)

    /// The value as JSON: what unit records and the unit fingerprint hold.
    public var json: JSONValue {
        switch self {
        case .string(let s): return .string(s)
        case .int(let i): return .int(i)
        case .float(let d): return .double(d)
        case .bool(let b): return .bool(b)
        }
    }

    /// The canonical JSON text, the form the unit fingerprint is taken of:
    /// a string JSON-quoted, an integer as its digits, a float in its shortest
    /// round-trip form with a fraction kept (`1.0`, `0.0003`, `1e+20`),
    /// `true`/`false`.
    public var canonicalJSON: String { json.serialized() }

    /// The text placeholders are replaced with: a string as it is, any other
    /// value as its canonical JSON (`0.0003`, `1.0`, `true`). A unit's
    /// command is so a function of its key: two spellings of one value
    /// (`3e-4`, `0.0003`) give one unit and one command.
    public var text: String {
        if case .string(let s) = self { return s }
        return canonicalJSON
    }

    /// The value's type, for messages: "a string", "an integer", "a float", "a boolean".
    public var typeName: String {
        switch self {
        case .string: return "a string"
        case .int: return "an integer"
        case .float: return "a float"
        case .bool: return "a boolean"
        }
    }

    /// The value a unit record holds; `nil` for null, a list, an object or a non-finite number.
    public init?(json: JSONValue) {
        switch json {
        case .string(let s): self = .string(s)
        case .int(let i): self = .int(i)
        case .double(let d) where d.isFinite: self = .float(d)
        case .bool(let b): self = .bool(b)
        default: return nil
        }
    }

    /// ``canonicalJSON``.
    public var description: String { canonicalJSON }
}

/// One parameter of a unit: its name and value.
public struct SweepParameter: Sendable, Hashable, CustomStringConvertible {
    public var name: String
    public var value: SweepValue

    public init(name: String, value: SweepValue) {
        self.name = name
        self.value = value
    }

    /// `name=value`, the value as it is substituted (`lr=0.001`, `rep=spectral`).
    public var description: String { "\(name)=\(value.text)" }
}
