extension JSONValue {
    /// Indentation stops growing at this many levels, so indented output stays
    /// linear in the size of the value however deep it is (deeper levels are
    /// written at this indentation; the text is still valid JSON).
    public static let maxIndentLevels = 32

    /// The value as compact JSON text with object keys sorted.
    public func serialized() -> String {
        var out = ""
        write(into: &out, indent: nil)
        return out
    }

    /// The value as indented JSON text with object keys sorted, ending in a newline.
    /// Indentation is capped at ``maxIndentLevels`` levels.
    public func prettyPrinted() -> String {
        var out = ""
        write(into: &out, indent: "  ")
        out.append("\n")
        return out
    }

    /// How deeply arrays and objects nest in the value: 0 for a number,
    /// string, Boolean or null, 1 for `[]` or `{"a": 1}`, 2 for `[[1]]`… The
    /// count the parser's `maxDepth` limits. Computed without recursion.
    public var nestingDepth: Int {
        var deepest = 0
        var pending: [(JSONValue, Int)] = [(self, 0)]
        while let entry = pending.popLast() {
            let (value, depth) = entry
            switch value {
            case .array(let items):
                deepest = max(deepest, depth + 1)
                for item in items { pending.append((item, depth + 1)) }
            case .object(let members):
                deepest = max(deepest, depth + 1)
                for member in members.values { pending.append((member, depth + 1)) }
            default:
                deepest = max(deepest, depth)
            }
        }
        return deepest
    }

    /// One step of the writer's explicit stack (no recursion, so no value
    /// built in Swift, however deep, can overflow the thread's stack).
    private enum WriteStep {
        case value(JSONValue, level: Int)
        case text(String)
        case newline(level: Int)
    }

    private func write(into out: inout String, indent: String?) {
        var steps: [WriteStep] = [.value(self, level: 0)]
        while let step = steps.popLast() {
            switch step {
            case .text(let s): out.append(s)
            case .newline(let level): Self.newline(&out, indent: indent, level: level)
            case .value(let value, let level):
                switch value {
                case .null: out.append("null")
                case .bool(let b): out.append(b ? "true" : "false")
                case .int(let i): out.append(String(i))
                case .double(let d): out.append(Self.format(d))
                case .string(let s): Self.writeString(s, into: &out)
                case .array(let items):
                    if items.isEmpty {
                        out.append("[]")
                        continue
                    }
                    out.append("[")
                    steps.append(.text("]"))
                    steps.append(.newline(level: level))
                    for (n, item) in items.enumerated().reversed() {
                        steps.append(.value(item, level: level + 1))
                        steps.append(.newline(level: level + 1))
                        if n > 0 { steps.append(.text(",")) }
                    }
                case .object(let members):
                    if members.isEmpty {
                        out.append("{}")
                        continue
                    }
                    out.append("{")
                    steps.append(.text("}"))
                    steps.append(.newline(level: level))
                    for (n, key) in members.keys.sorted().enumerated().reversed() {
                        steps.append(.value(members[key] ?? .null, level: level + 1))
                        var keyText = ""
                        Self.writeString(key, into: &keyText)
                        keyText.append(indent == nil ? ":" : ": ")
                        steps.append(.text(keyText))
                        steps.append(.newline(level: level + 1))
                        if n > 0 { steps.append(.text(",")) }
                    }
                }
            }
        }
    }

    private static func newline(_ out: inout String, indent: String?, level: Int) {
        guard let indent else { return }
        out.append("\n")
        for _ in 0..<min(level, maxIndentLevels) { out.append(indent) }
    }

    /// Shortest text that reads back as the same `Double`; non-finite values as strings.
    static func format(_ d: Double) -> String {
        if d.isNaN { return "\"NaN\"" }
        if d.isInfinite { return d > 0 ? "\"Infinity\"" : "\"-Infinity\"" }
        if d == d.rounded(), abs(d) < 1e15 {
            // Integral doubles keep a fraction so they read back as doubles.
            return String(Int64(d)) + ".0"
        }
        return d.description
    }

    static func writeString(_ s: String, into out: inout String) {
        out.append("\"")
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out.append("\\\"")
            case "\\": out.append("\\\\")
            case "\n": out.append("\\n")
            case "\r": out.append("\\r")
            case "\t": out.append("\\t")
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out.append("\\u" + String(repeating: "0", count: 4 - hex.count) + hex)
            default: out.unicodeScalars.append(scalar)
            }
        }
        out.append("\"")
    }
}
