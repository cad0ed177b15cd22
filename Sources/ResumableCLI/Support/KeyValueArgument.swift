import ArgumentParser
import Resumable

/// `KEY=VALUE` arguments (`--metric loss=0.3`, `--metadata note=text`).
enum KeyValueArgument {
    /// Splits `KEY=VALUE`.
    /// - Throws: a usage error naming the option when there is no `=` or no key.
    static func split(_ text: String, option: String) throws -> (key: String, value: String) {
        guard let eq = text.firstIndex(of: "="), eq != text.startIndex else {
            throw ValidationError("\(option) needs KEY=VALUE, got \"\(text)\".")
        }
        return (String(text[..<eq]), String(text[text.index(after: eq)...]))
    }

    /// `NAME=NUMBER` pairs as metrics.
    static func metrics(_ texts: [String], option: String = "--metric") throws -> [String: Double] {
        var metrics: [String: Double] = [:]
        for text in texts {
            let (key, raw) = try split(text, option: option)
            guard let value = Double(raw) else {
                throw ValidationError("\(option) \(text): \"\(raw)\" is not a number.")
            }
            metrics[key] = value
        }
        return metrics
    }

    /// `KEY=VALUE` pairs as JSON values: VALUE is read as JSON when it is valid JSON, as a string otherwise.
    static func jsonValues(_ texts: [String], option: String) throws -> [String: JSONValue] {
        var values: [String: JSONValue] = [:]
        for text in texts {
            _ = try split(text, option: option)
            guard case .set(let key, let value) = try ManifestEdit.parseSet(text) else { continue }
            values[key] = value
        }
        return values
    }
}
