import DurableFiles

/// Placeholders in commands, env values and paths: `{run}`, `{stage_dir}`
/// and `{name}` in a pipeline file; parameters and `{output}`… in a sweep file.
///
/// A placeholder is `{` identifier `}`. `{{` and `}}` are literal braces;
/// `${NAME}` is the shell's and left alone; a brace followed by anything but
/// an identifier and `}` (awk's `{print $1}`) is text. Any other `{x}` is refused.
package enum Placeholders {
    /// A piece of a template: literal text (braces already unescaped) or a placeholder's name.
    package enum Segment: Sendable, Hashable {
        case text(String)
        case placeholder(String)
    }

    /// `text` with each placeholder replaced by its value in `values`.
    /// - Throws: `.usage` (exit 64) at `location` for a placeholder not in `values`, naming the known ones.
    package static func substitute(_ text: String, _ values: [String: String], at location: SourceLocation, in what: String) throws -> String {
        var out = ""
        for segment in try segments(of: text, known: Set(values.keys), at: location, in: what) {
            switch segment {
            case .text(let t): out += t
            case .placeholder(let name): out += values[name]!
            }
        }
        return out
    }

    /// `text` split into literal text and placeholders, each placeholder
    /// checked against `known`. Adjacent text is one segment.
    /// - Throws: `.usage` (exit 64) at `location` for a placeholder not in `known`, naming the known ones.
    package static func segments(of text: String, known: Set<String>, at location: SourceLocation, in what: String) throws -> [Segment] {
        let chars = Array(text)
        var segments: [Segment] = []
        var literal = ""
        var i = 0
        while i < chars.count {
            let c = chars[i]
            if c == "{", i + 1 < chars.count, chars[i + 1] == "{" {
                literal.append("{")
                i += 2
                continue
            }
            if c == "}", i + 1 < chars.count, chars[i + 1] == "}" {
                literal.append("}")
                i += 2
                continue
            }
            if c == "{", i == 0 || chars[i - 1] != "$", let close = identifierEnd(chars, from: i + 1) {
                let name = String(chars[(i + 1)..<close])
                guard known.contains(name) else {
                    let list = known.sorted().map { "{\($0)}" }.joined(separator: ", ")
                    throw ResumableError(
                        .usage,
                        "\(location): unknown placeholder {\(name)} in \(what); the placeholders here are \(list) (write {{ and }} for literal braces).",
                        path: location.file)
                }
                if !literal.isEmpty { segments.append(.text(literal)) }
                literal = ""
                segments.append(.placeholder(name))
                i = close + 1
                continue
            }
            literal.append(c)
            i += 1
        }
        if !literal.isEmpty { segments.append(.text(literal)) }
        return segments
    }

    /// Whether `name` can be written as a placeholder: ASCII letters, digits
    /// and `_`, not starting with a digit.
    package static func isPlaceholderName(_ name: String) -> Bool {
        let chars = Array(name)
        return identifierEnd(chars + ["}"], from: 0) == chars.count
    }

    /// The index of the `}` closing an identifier that starts at `start`, if there is one.
    private static func identifierEnd(_ chars: [Character], from start: Int) -> Int? {
        var j = start
        while j < chars.count, chars[j].isASCII, chars[j].isLetter || chars[j].isNumber || chars[j] == "_" { j += 1 }
        guard j > start, j < chars.count, chars[j] == "}", !chars[start].isNumber else { return nil }
        return j
    }
}
