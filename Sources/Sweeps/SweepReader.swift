import DurableFiles
import Pipelines
import Yams

/// Walks the composed YAML of a sweep file into a ``SweepSpec``, refusing
/// every mistake with its location. The shared helpers (locations, the
/// expanded-node limit, mappings with known keys) are Pipelines' `YAMLReader`.
struct SweepReader {
    var yaml: YAMLReader
    let allowLarge: Bool

    init(file: String, allowLarge: Bool) {
        yaml = YAMLReader(file: file, kind: SweepSpec.fileKind)
        self.allowLarge = allowLarge
    }

    var file: String { yaml.file }
    func usage(_ at: SourceLocation, _ message: String) -> ResumableError { yaml.usage(at, message) }
    func location(_ node: Node) -> SourceLocation { yaml.location(node) }
    static func kind(_ node: Node) -> String { YAMLReader.kind(node) }

    /// A hint for a mapping that is an unquoted `{name}`: YAML reads `{lr}` as a mapping.
    static func braceHint(_ node: Node) -> String {
        guard case .mapping(let m) = node, m.count == 1, let (k, v) = m.first, case .scalar = k, v.null != nil else { return "" }
        return " (write \"{\(k.string ?? "")}\" in quotes: YAML reads an unquoted {…} as a mapping)"
    }

    /// A template string: a scalar that is not null.
    func templateString(_ node: Node, _ what: String) throws -> String {
        guard case .scalar(let s) = node, node.null == nil else {
            throw usage(location(node), "\(what) must be a string, found \(Self.kind(node))\(Self.braceHint(node))")
        }
        return s.string
    }

    /// A parameter value: a scalar typed by the YAML 1.2 core schema (see ``CoreSchema``);
    /// a quoted scalar is a string; explicit `!!str`, `!!int`, `!!float`, `!!bool` are honoured.
    func value(_ node: Node, _ what: String) throws -> SweepValue {
        guard case .scalar(let s) = node else {
            throw usage(
                location(node),
                "\(what) must be a single value (a string, integer, float or boolean), found \(Self.kind(node))\(Self.braceHint(node)); lists and mappings cannot be parameter values")
        }
        let at = location(node)
        let tag = s.tag.description
        func typed(_ resolved: CoreSchema.Resolved) throws -> SweepValue {
            switch resolved {
            case .null: throw usage(at, "\(what) is null; a parameter value must be a string, integer, float or boolean (write \"null\" in quotes for the text)")
            case .bool(let b): return .bool(b)
            case .int(let i): return .int(i)
            case .intOutOfRange: throw usage(at, "\(what) `\(s.string)` does not fit a 64-bit integer; write it in quotes to make it a string")
            case .float(let d):
                guard d.isFinite else { throw usage(at, "\(what) `\(s.string)` is not a finite number; write it in quotes to make it a string") }
                return .float(d)
            case .string: return .string(s.string)
            }
        }
        func wrongTag(_ type: String) -> ResumableError {
            usage(at, "\(what) `\(s.string)` is tagged \(type) but is not one")
        }
        switch tag {
        case Tag.Name.implicit.rawValue: return try typed(CoreSchema.resolve(s.string))
        case Tag.Name.str.rawValue, Tag.Name.nonSpecific.rawValue: return .string(s.string)
        case Tag.Name.null.rawValue: return try typed(.null)
        case Tag.Name.int.rawValue:
            let resolved = CoreSchema.resolve(s.string)
            switch resolved {
            case .int, .intOutOfRange: return try typed(resolved)
            default: throw wrongTag("!!int")
            }
        case Tag.Name.float.rawValue:
            switch CoreSchema.resolve(s.string) {
            case .int(let i): return .float(Double(i))
            case .float(let d): return try typed(.float(d))
            default: throw wrongTag("!!float")
            }
        case Tag.Name.bool.rawValue:
            guard case .bool(let b) = CoreSchema.resolve(s.string) else { throw wrongTag("!!bool") }
            return .bool(b)
        default:
            throw usage(at, "\(what) has the tag `\(tag)`; a parameter value is a string, integer, float or boolean (tags !!str, !!int, !!float, !!bool)")
        }
    }

    /// A whole number in `range`, written as a plain integer.
    func number(_ node: Node, _ what: String, in range: ClosedRange<Int>) throws -> Int {
        guard case .scalar(let s) = node, s.style == .plain, case .int(let i) = CoreSchema.resolve(s.string), i >= range.lowerBound,
            i <= range.upperBound
        else {
            let found = node.scalar.map { "`\($0.string)`" } ?? Self.kind(node)
            throw usage(location(node), "\(what) must be a whole number from \(range.lowerBound) to \(range.upperBound), found \(found)")
        }
        return Int(i)
    }

    /// At most a year: a longer timeout is a mistake.
    static let maxTimeout = 366.0 * 86_400

    /// A timeout: a positive number of seconds, or a duration string (`90m`, `2h`, `1h30m`, `45s`).
    func timeout(_ node: Node) throws -> Double {
        let what = "`timeout`"
        func refuse(_ found: String) -> ResumableError {
            usage(
                location(node),
                "\(what) must be a positive number of seconds or a duration like 90m, 2h, 1h30m or 45s (at most 366 days), found \(found)")
        }
        guard case .scalar(let s) = node, node.null == nil else { throw refuse(Self.kind(node)) }
        let seconds: Double?
        if s.style == .plain {
            switch CoreSchema.resolve(s.string) {
            case .int(let i): seconds = Double(i)
            case .float(let d): seconds = d
            default: seconds = Self.duration(s.string)
            }
        } else {
            seconds = Self.duration(s.string)
        }
        guard let seconds, seconds.isFinite, seconds > 0, seconds <= Self.maxTimeout else { throw refuse("`\(s.string)`") }
        return seconds
    }

    /// Seconds in a duration: whole numbers followed by `h`, `m`, `s`, each unit at most once and in that order.
    static func duration(_ text: String) -> Double? {
        var total = 0.0
        var digits = ""
        var lastUnit = -1
        for c in text {
            if c.isASCII, c.isNumber {
                digits.append(c)
                continue
            }
            let units: [Character: (index: Int, seconds: Double)] = ["h": (0, 3600), "m": (1, 60), "s": (2, 1)]
            guard let unit = units[c], !digits.isEmpty, digits.count <= 9, unit.index > lastUnit, let n = Int(digits) else { return nil }
            total += Double(n) * unit.seconds
            lastUnit = unit.index
            digits = ""
        }
        return digits.isEmpty && lastUnit >= 0 ? total : nil
    }

    /// The checks on a parameter name: a placeholder name, not a built-in one, at most 100 bytes.
    func checkParameterName(_ name: String, at: SourceLocation) throws {
        guard Placeholders.isPlaceholderName(name), name.utf8.count <= 100 else {
            throw usage(at, "the parameter name `\(name)` is not valid: use letters, digits and `_`, not starting with a digit, at most 100 characters")
        }
        guard !SweepSpec.builtinPlaceholders.contains(name) else {
            throw usage(
                at,
                "`\(name)` cannot be a parameter: {\(name)} is a built-in placeholder (\(SweepSpec.builtinPlaceholders.map { "{\($0)}" }.joined(separator: ", ")))")
        }
    }
}
