import Resumable

/// Long JSON values made short for text output: arrays longer than a few
/// items show their length, first and last items. `--full` prints them whole;
/// `--json` output is never abbreviated.
enum Abbreviation {
    /// Arrays with more items than this are abbreviated.
    static let arrayLimit = 6

    /// `value` as compact JSON-like text, long arrays shown as
    /// `[a, b, … 26 more …, y, z] (30 items)`; the whole value when `full`.
    static func text(_ value: JSONValue, full: Bool = false, depth: Int = 0) -> String {
        // Manifests nest at most 64 levels; anything deeper is written whole, without recursion.
        if full || depth > 64 { return value.serialized() }
        switch value {
        case .array(let items) where items.count > arrayLimit:
            let head = items.prefix(2).map { text($0, depth: depth + 1) }
            let tail = items.suffix(2).map { text($0, depth: depth + 1) }
            return "[" + (head + ["… \(items.count - 4) more …"] + tail).joined(separator: ", ") + "] (\(items.count) items)"
        case .array(let items):
            return "[" + items.map { text($0, depth: depth + 1) }.joined(separator: ", ") + "]"
        case .object(let o):
            return "{" + o.keys.sorted().map { JSONValue.string($0).serialized() + ": " + text(o[$0]!, depth: depth + 1) }.joined(separator: ", ") + "}"
        default:
            return value.serialized()
        }
    }

    /// A value that is a number (or NaN, stored as a string) as text, else its JSON.
    static func scalar(_ value: JSONValue) -> String {
        switch value {
        case .int, .double: return value.doubleValue.map(HumanFormat.number) ?? value.serialized()
        default: return value.serialized()
        }
    }

    /// How two values differ, short: for two long arrays (a history), their
    /// lengths, the first index where they differ and the last items;
    /// otherwise `a -> b` with long arrays abbreviated.
    static func difference(_ a: JSONValue?, _ b: JSONValue?, full: Bool = false) -> String {
        let plain = "\(a.map { text($0, full: full) } ?? "(absent)") -> \(b.map { text($0, full: full) } ?? "(absent)")"
        guard !full, let left = a?.arrayValue, let right = b?.arrayValue,
            left.count > arrayLimit || right.count > arrayLimit
        else { return plain }
        var parts = [left.count == right.count ? "\(left.count) items each" : "\(left.count) items -> \(right.count) items"]
        if let i = (0..<min(left.count, right.count)).first(where: { left[$0] != right[$0] }) {
            parts.append("first differs at index \(i) (\(scalar(left[i])) -> \(scalar(right[i])))")
        } else {
            parts.append("the first \(min(left.count, right.count)) equal")
        }
        parts.append("last \(left.last.map(scalar) ?? "-") -> \(right.last.map(scalar) ?? "-")")
        return parts.joined(separator: "; ")
    }
}
