import Pipelines

/// A command argument, env value or result path as written, split once into
/// text and placeholders (checked when the file is read), then rendered for
/// each unit.
struct SweepTemplate: Sendable, Hashable {
    let segments: [Placeholders.Segment]
    /// Where the template is written.
    let location: SourceLocation

    /// - Throws: `.usage` (exit 64) at `location` for a placeholder not in `known`.
    init(_ text: String, known: Set<String>, at location: SourceLocation, in what: String) throws {
        segments = try Placeholders.segments(of: text, known: known, at: location, in: what)
        self.location = location
    }

    /// The placeholders used, in order of first use.
    var placeholders: [String] {
        var names: [String] = []
        for case .placeholder(let name) in segments where !names.contains(name) { names.append(name) }
        return names
    }

    /// The text with each placeholder replaced by `transform(values[name])`.
    /// It is a programmer error to leave a used placeholder out of `values`.
    func render(_ values: [String: String], _ transform: (String) -> String = { $0 }) -> String {
        var out = ""
        for segment in segments {
            switch segment {
            case .text(let t): out += t
            case .placeholder(let name): out += transform(values[name]!)
            }
        }
        return out
    }

    /// The form the unit fingerprint takes of an env value: each parameter
    /// replaced by its value, the other placeholders (`{output}`, `{key}`…,
    /// which say where a unit runs, not what it computes) kept as written,
    /// and literal braces written doubled — so a literal `{{run}}` and the
    /// placeholder `{run}` stay apart.
    func fingerprintText(_ params: [String: SweepValue]) -> String {
        func escaped(_ s: String) -> String {
            guard s.contains(where: { $0 == "{" || $0 == "}" }) else { return s }
            return s.replacingBraces()
        }
        var out = ""
        for segment in segments {
            switch segment {
            case .text(let t): out += escaped(t)
            case .placeholder(let name):
                if let value = params[name] { out += escaped(value.text) } else { out += "{" + name + "}" }
            }
        }
        return out
    }
}

extension String {
    /// `{` and `}` doubled.
    fileprivate func replacingBraces() -> String {
        var out = ""
        for c in self {
            out.append(c)
            if c == "{" || c == "}" { out.append(c) }
        }
        return out
    }
}

/// Quoting for `/bin/sh`.
enum ShellQuote {
    /// `value` as one shell word: as it is when made only of letters, digits
    /// and `_ . / : = + - @ % ,`; otherwise in single quotes, each `'` written `'\''`.
    /// The empty string is `''`.
    static func quote(_ value: String) -> String {
        if !value.isEmpty, value.utf8.allSatisfy(isSafe) { return value }
        var out = "'"
        for c in value {
            if c == "'" { out += "'\\''" } else { out.append(c) }
        }
        return out + "'"
    }

    private static func isSafe(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return "_./:=+-@%,".utf8.contains(b)
        }
    }
}
