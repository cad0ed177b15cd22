package import DurableFiles
package import Yams

/// Walks composed YAML, refusing every mistake with its location: the
/// helpers the pipeline file's reader (`YAMLReader+Pipeline.swift`) and the
/// sweep file's reader (in `Sweeps`) share — locations, the expanded-node
/// limit, typed scalars, mappings with known keys.
package struct YAMLReader {
    /// The file's name in messages.
    package let file: String
    /// What is read: its noun in messages and its limits.
    package let fileKind: YAMLFileKind
    /// Nodes seen so far, aliases expanded (the alias-bomb limit).
    private var nodes = 0

    package init(file: String, kind: YAMLFileKind = .pipeline) {
        self.file = file
        self.fileKind = kind
    }

    /// A usage error (exit 64) at `at`: `FILE:LINE:COLUMN: message.`
    package func usage(_ at: SourceLocation, _ message: String) -> ResumableError {
        ResumableError(.usage, "\(at): \(message).", path: file)
    }

    /// Where `node` starts.
    package func location(_ node: Node) -> SourceLocation {
        let mark = node.mark
        return SourceLocation(file: file, line: mark?.line ?? 1, column: mark?.column ?? 1)
    }

    /// Counts `node` and everything under it against the expansion limit.
    package mutating func count(_ node: Node) throws {
        var stack = [node]
        while let n = stack.popLast() {
            nodes += 1
            if nodes > fileKind.maxExpandedNodes {
                throw ResumableError(
                    .corrupt,
                    "\(location(node)): the \(fileKind.noun) expands to more than \(fileKind.maxExpandedNodes) YAML nodes (an anchor/alias bomb?); it is refused.",
                    path: file)
            }
            switch n {
            case .mapping(let m): for (k, v) in m { stack.append(k); stack.append(v) }
            case .sequence(let s): stack.append(contentsOf: s)
            default: break
            }
        }
    }

    /// What `node` is, for messages: "a mapping", "a list", "a scalar", "nothing (null)".
    package static func kind(_ node: Node) -> String {
        switch node {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .scalar: return node.null != nil ? "nothing (null)" : "a scalar"
        case .alias: return "an alias"
        }
    }

    /// The entries of a mapping, keys as strings, unknown keys refused.
    package func mapping(_ node: Node, _ what: String, allowed: [String]) throws -> [(key: String, keyNode: Node, value: Node)] {
        guard case .mapping(let m) = node else {
            throw usage(location(node), "\(what) must be a mapping, found \(Self.kind(node))")
        }
        var result: [(key: String, keyNode: Node, value: Node)] = []
        for (k, v) in m {
            guard case .scalar(let s) = k else { throw usage(location(k), "\(what) has a key that is not a plain name") }
            guard allowed.contains(s.string) else {
                throw usage(location(k), "unknown key `\(s.string)` in \(what); the keys are \(allowed.map { "`\($0)`" }.joined(separator: ", "))")
            }
            result.append((s.string, k, v))
        }
        return result
    }

    /// A scalar that is not null, as written.
    package func string(_ node: Node, _ what: String) throws -> String {
        guard case .scalar(let s) = node, node.null == nil else {
            throw usage(location(node), "\(what) must be a string, found \(Self.kind(node))")
        }
        return s.string
    }

    /// A list of scalars, each with its location.
    package func strings(_ node: Node, _ what: String) throws -> [(String, SourceLocation)] {
        guard case .sequence(let seq) = node else {
            throw usage(location(node), "\(what) must be a list of strings, found \(Self.kind(node))")
        }
        return try seq.map { (try string($0, "each entry of \(what)"), location($0)) }
    }

    package func bool(_ node: Node, _ what: String) throws -> Bool {
        guard case .scalar = node, let b = node.bool else {
            throw usage(location(node), "\(what) must be true or false, found \(Self.kind(node))")
        }
        return b
    }

    /// A whole number from 0 to `limit`.
    package func count(_ node: Node, _ what: String, limit: Int = 1_000) throws -> Int {
        guard case .scalar = node, let i = node.int, i >= 0, i <= limit else {
            throw usage(location(node), "\(what) must be a whole number from 0 to \(limit), found \(Self.kind(node))")
        }
        return i
    }

    /// A command: a string (shell) or a non-empty list of strings (argv).
    func command(_ node: Node, _ what: String, substitutions: [String: String]) throws -> StageCommand {
        switch node {
        case .scalar where node.null == nil:
            let line = try Placeholders.substitute(try string(node, what), substitutions, at: location(node), in: what)
            guard !line.allSatisfy(\.isWhitespace) else { throw usage(location(node), "\(what) is empty") }
            return .shell(line)
        case .sequence:
            let parts = try strings(node, what)
            guard !parts.isEmpty else { throw usage(location(node), "\(what) is an empty list; give the program and its arguments") }
            return .arguments(try parts.map { try Placeholders.substitute($0.0, substitutions, at: $0.1, in: what) })
        default:
            throw usage(location(node), "\(what) must be a string (run by /bin/sh -c) or a list (the program and its arguments), found \(Self.kind(node))")
        }
    }

    /// A name that is also a directory name: letters, digits, `_`, `-`, `.` (not first), at most 100 bytes.
    package static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 100 && !name.hasPrefix(".")
            && name.unicodeScalars.allSatisfy { ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) || "_-.".unicodeScalars.contains($0) }
    }

    /// An environment variable name: letters, digits and `_`, not starting with a digit.
    package static func isEnvName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, !("0"..."9").contains(first) else { return false }
        return name.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_") }
    }
}
