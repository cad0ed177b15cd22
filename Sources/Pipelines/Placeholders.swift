import DurableFiles

/// `{run}`, `{stage_dir}` and `{name}` in commands, env values and paths.
///
/// A placeholder is `{` identifier `}`. `{{` and `}}` are literal braces;
/// `${NAME}` is the shell's and left alone; a brace followed by anything but
/// an identifier and `}` (awk's `{print $1}`) is text. Any other `{x}` is refused.
enum Placeholders {
    static func substitute(_ text: String, _ values: [String: String], at location: SourceLocation, in what: String) throws -> String {
        let chars = Array(text)
        var out = ""
        var i = 0
        while i < chars.count {
            let c = chars[i]
            if c == "{", i + 1 < chars.count, chars[i + 1] == "{" {
                out.append("{")
                i += 2
                continue
            }
            if c == "}", i + 1 < chars.count, chars[i + 1] == "}" {
                out.append("}")
                i += 2
                continue
            }
            if c == "{", i == 0 || chars[i - 1] != "$", let close = identifierEnd(chars, from: i + 1) {
                let name = String(chars[(i + 1)..<close])
                guard let value = values[name] else {
                    let known = values.keys.sorted().map { "{\($0)}" }.joined(separator: ", ")
                    throw ResumableError(
                        .usage,
                        "\(location): unknown placeholder {\(name)} in \(what); the placeholders here are \(known) (write {{ and }} for literal braces).",
                        path: location.file)
                }
                out += value
                i = close + 1
                continue
            }
            out.append(c)
            i += 1
        }
        return out
    }

    /// The index of the `}` closing an identifier that starts at `start`, if there is one.
    private static func identifierEnd(_ chars: [Character], from start: Int) -> Int? {
        var j = start
        while j < chars.count, chars[j].isASCII, chars[j].isLetter || chars[j].isNumber || chars[j] == "_" { j += 1 }
        guard j > start, j < chars.count, chars[j] == "}", !chars[start].isNumber else { return nil }
        return j
    }
}
