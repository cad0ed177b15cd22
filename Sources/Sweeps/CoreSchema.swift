/// The YAML 1.2 core schema's resolution of a plain scalar: what type an
/// unquoted value has.
///
/// - null: `~`, `null`, `Null`, `NULL`, or nothing
/// - bool: `true`, `True`, `TRUE`, `false`, `False`, `FALSE`
/// - int: `[-+]?[0-9]+`, `0o[0-7]+`, `0x[0-9a-fA-F]+`
/// - float: `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`, `[-+]?.inf`, `.nan` (any case form)
/// - anything else is a string.
///
/// Unlike YAML 1.1 (Yams' default resolver), `yes`/`no`/`on`/`off`,
/// `1_000`, `0b101`, `1:30` and dates stay strings: a sweep's parameter keeps
/// the type its author most likely meant, and the rule is the same in every
/// YAML 1.2 library.
enum CoreSchema {
    enum Resolved: Equatable {
        case null
        case bool(Bool)
        case int(Int64)
        /// An integer that does not fit 64 bits.
        case intOutOfRange
        case float(Double)
        case string
    }

    static func resolve(_ text: String) -> Resolved {
        switch text {
        case "", "~", "null", "Null", "NULL": return .null
        case "true", "True", "TRUE": return .bool(true)
        case "false", "False", "FALSE": return .bool(false)
        case ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF": return .float(.infinity)
        case "-.inf", "-.Inf", "-.INF": return .float(-.infinity)
        case ".nan", ".NaN", ".NAN": return .float(.nan)
        default: break
        }
        let bytes = Array(text.utf8)
        func isDigit(_ b: UInt8) -> Bool { b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }
        if bytes.count > 2, bytes[0] == UInt8(ascii: "0"), bytes[1] == UInt8(ascii: "o") || bytes[1] == UInt8(ascii: "x") {
            let octal = bytes[1] == UInt8(ascii: "o")
            let digits = bytes[2...]
            let valid = digits.allSatisfy { b in
                octal ? (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "7")) : (isDigit(b) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(b | 0x20))
            }
            if valid {
                return Int64(String(decoding: digits, as: UTF8.self), radix: octal ? 8 : 16).map { .int($0) } ?? .intOutOfRange
            }
            return .string
        }
        // Sign, integer digits, fraction, exponent.
        var i = 0
        if i < bytes.count, bytes[i] == UInt8(ascii: "-") || bytes[i] == UInt8(ascii: "+") { i += 1 }
        let intStart = i
        while i < bytes.count, isDigit(bytes[i]) { i += 1 }
        let intDigits = i - intStart
        if intDigits > 0, i == bytes.count {
            return Int64(text).map { .int($0) } ?? .intOutOfRange
        }
        var fracDigits = 0
        var hasDot = false
        if i < bytes.count, bytes[i] == UInt8(ascii: ".") {
            hasDot = true
            i += 1
            let fracStart = i
            while i < bytes.count, isDigit(bytes[i]) { i += 1 }
            fracDigits = i - fracStart
        }
        // `.5` needs fraction digits; `5.` is fine.
        guard intDigits > 0 || (hasDot && fracDigits > 0) else { return .string }
        if i < bytes.count, bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
            i += 1
            if i < bytes.count, bytes[i] == UInt8(ascii: "-") || bytes[i] == UInt8(ascii: "+") { i += 1 }
            let expStart = i
            while i < bytes.count, isDigit(bytes[i]) { i += 1 }
            guard i > expStart else { return .string }
        }
        guard i == bytes.count else { return .string }
        // Swift's parser wants digits on both sides of the point: `.5` → `0.5`, `5.` → `5.0`.
        var normalized = ""
        var sawDigit = false
        var previous: Character = " "
        for c in text {
            if c == ".", !sawDigit { normalized.append("0") }
            if (c == "e" || c == "E"), previous == "." { normalized.append("0") }
            normalized.append(c)
            if c.isNumber { sawDigit = true }
            previous = c
        }
        if previous == "." { normalized.append("0") }
        guard let d = Double(normalized) else { return .string }
        return .float(d)
    }
}
