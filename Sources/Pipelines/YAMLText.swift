import DurableFiles
package import Yams

/// What kind of YAML file is read: its noun in messages and its limits.
package struct YAMLFileKind: Sendable, Hashable {
    /// "pipeline file", "sweep file".
    package var noun: String
    /// Files larger than this are refused (exit 65).
    package var maxBytes: Int
    /// At most this many aliases (`*name`) (exit 65 beyond).
    package var maxAliases: Int
    /// At most this many nodes once aliases are expanded (exit 65 beyond).
    package var maxExpandedNodes: Int

    package init(noun: String, maxBytes: Int, maxAliases: Int, maxExpandedNodes: Int) {
        self.noun = noun
        self.maxBytes = maxBytes
        self.maxAliases = maxAliases
        self.maxExpandedNodes = maxExpandedNodes
    }

    /// The pipeline file (docs/PIPELINES.md).
    package static let pipeline = YAMLFileKind(
        noun: "pipeline file", maxBytes: PipelineSpec.maxFileBytes, maxAliases: PipelineSpec.maxAliases,
        maxExpandedNodes: PipelineSpec.maxExpandedNodes)
}

/// A YAML file's bytes: read within the size limit, checked (UTF-8, no
/// binary, few aliases) before YAML sees them, and composed with Yams so
/// every node keeps its line and column. Every error starts with
/// `FILE:LINE:COLUMN`.
package enum YAMLText {
    /// Reads the file at `path` (a link to it is followed: it is the user's
    /// file, not one Resumable keeps).
    /// - Throws: `.corrupt` (exit 65) for a file over `kind.maxBytes`, before it
    ///   is read; `.notFound` when it does not exist; read errors.
    package static func read(path: String, kind: YAMLFileKind) throws -> [UInt8] {
        if FileSystem.entryType(path) == .regular, let size = try? FileSystem.size(of: path), size > Int64(kind.maxBytes) {
            throw ResumableError(
                .corrupt, "\(path):1:1: the \(kind.noun) is \(size) bytes, more than the \(kind.maxBytes >> 20) MiB a \(kind.noun) may be.",
                path: path)
        }
        return try FileSystem.readFile(path, limit: kind.maxBytes, followingSymlinks: true)
    }

    /// Checks `bytes` and composes them; `nil` for an empty document.
    /// - Throws: `.corrupt` (exit 65) for bytes that are no YAML text (size,
    ///   UTF-8, binary, too many aliases, a syntax error); `.usage` (exit 64)
    ///   for a mapping with a key twice.
    package static func compose(_ bytes: [UInt8], file: String, kind: YAMLFileKind) throws -> Node? {
        let text = try check(bytes, file: file, kind: kind)
        do {
            return try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw Self.error(from: error, file: file, kind: kind)
        }
    }

    /// The line and column of the byte at `offset` (columns count characters, not bytes).
    package static func location(ofByte offset: Int, in bytes: [UInt8], file: String) -> SourceLocation {
        var line = 1
        var column = 1
        for b in bytes[0..<min(offset, bytes.count)] {
            if b == 0x0A {
                line += 1
                column = 1
            } else if b & 0xC0 != 0x80 {
                column += 1
            }
        }
        return SourceLocation(file: file, line: line, column: column)
    }

    /// The checks made on the bytes before YAML sees them; the text when they pass.
    static func check(_ bytes: [UInt8], file: String, kind: YAMLFileKind) throws -> String {
        func corrupt(_ offset: Int, _ reason: String) -> ResumableError {
            ResumableError(.corrupt, "\(location(ofByte: offset, in: bytes, file: file)): \(reason)", path: file)
        }
        if bytes.count > kind.maxBytes {
            throw corrupt(0, "the \(kind.noun) is \(bytes.count) bytes, more than the \(kind.maxBytes >> 20) MiB a \(kind.noun) may be.")
        }
        // Binary content: NUL and control characters other than tab, newline and carriage return.
        if let i = bytes.firstIndex(where: { $0 < 0x20 && $0 != 0x09 && $0 != 0x0A && $0 != 0x0D || $0 == 0x7F }) {
            throw corrupt(i, "the \(kind.noun) holds binary data (byte 0x\(String(bytes[i], radix: 16)) at offset \(i)); it is not a YAML text file.")
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw corrupt(firstInvalidUTF8(bytes), "the \(kind.noun) is not valid UTF-8; save it as UTF-8.")
        }
        // Aliases, counted before YAML expands them: `*name` after a space, a flow
        // indicator or at the start of a line (a `*` inside words is not an alias).
        var aliases = 0
        var previous: UInt8 = 0x0A
        for (i, b) in bytes.enumerated() {
            if b == UInt8(ascii: "*"), [0x0A, 0x20, 0x09, UInt8(ascii: "["), UInt8(ascii: "{"), UInt8(ascii: ","), UInt8(ascii: ":")].contains(previous) {
                aliases += 1
                if aliases > kind.maxAliases {
                    throw corrupt(i, "the \(kind.noun) uses more than \(kind.maxAliases) YAML aliases; it is refused as a possible alias bomb.")
                }
            }
            previous = b
        }
        return text
    }

    static func firstInvalidUTF8(_ bytes: [UInt8]) -> Int {
        var i = 0
        while i < bytes.count {
            let b = bytes[i]
            let length = b < 0x80 ? 1 : b >> 5 == 0b110 ? 2 : b >> 4 == 0b1110 ? 3 : b >> 3 == 0b11110 ? 4 : 0
            guard length > 0, i + length <= bytes.count else { return i }
            if length > 1, String(validating: bytes[i..<(i + length)], as: UTF8.self) == nil { return i }
            i += length
        }
        return i
    }

    static func error(from error: YamlError, file: String, kind: YAMLFileKind) -> ResumableError {
        func at(_ mark: Mark) -> String { "\(file):\(mark.line):\(mark.column)" }
        switch error {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            let what = context.map { "\($0.text) (\(at($0.mark))): " } ?? ""
            return ResumableError(.corrupt, "\(at(mark)): YAML syntax error: \(what)\(problem).", path: file, cause: error)
        case .duplicatedKeysInMapping(let duplicates, let context):
            return ResumableError(
                .usage,
                "\(at(context.mark)): the mapping that starts here has the key \(duplicates.map { "`\($0)`" }.joined(separator: ", ")) twice; keep one.",
                path: file, cause: error)
        case .reader(let problem, let offset, _, _):
            return ResumableError(
                .corrupt, "\(file):1:1: the \(kind.noun) cannot be read as YAML: \(problem)\(offset.map { " at character \($0)" } ?? "").", path: file,
                cause: error)
        default:
            return ResumableError(.corrupt, "\(file):1:1: the \(kind.noun) cannot be read as YAML: \(error).", path: file, cause: error)
        }
    }
}
