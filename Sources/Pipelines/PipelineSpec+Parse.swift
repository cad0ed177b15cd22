import DurableFiles
import Yams

extension PipelineSpec {
    /// Pipeline files larger than this are refused (exit 65).
    public static let maxFileBytes = 1 << 20
    /// At most this many aliases (`*name`) in a pipeline file (exit 65 beyond).
    public static let maxAliases = 100
    /// At most this many nodes once aliases are expanded: an anchor/alias
    /// bomb ("billion laughs") is refused (exit 65) instead of walked.
    public static let maxExpandedNodes = 100_000
    /// At most this many stages.
    public static let maxStages = 1_000

    /// Reads and checks a pipeline file.
    ///
    /// Nothing runs and nothing is written: every mistake is found here,
    /// and the error names the file, the line and the column.
    /// - Throws: `ResumableError` `.usage` (exit 64) for a mistake in the
    ///   declaration (unknown key, wrong type, missing field, duplicate stage,
    ///   unknown `needs`, a cycle, an unknown placeholder); `.corrupt` (exit 65)
    ///   for data that is not a pipeline file at all (larger than
    ///   ``maxFileBytes``, not UTF-8, binary, a YAML syntax error, too many
    ///   aliases); `.notFound` when the file does not exist.
    public static func load(path: String) throws -> PipelineSpec {
        if FileSystem.entryType(path) == .regular, let size = try? FileSystem.size(of: path), size > Int64(maxFileBytes) {
            throw ResumableError(
                .corrupt, "\(path):1:1: the pipeline file is \(size) bytes, more than the \(maxFileBytes >> 20) MiB a pipeline file may be.",
                path: path)
        }
        let bytes = try FileSystem.readFile(path, limit: maxFileBytes, followingSymlinks: true)
        return try parse(bytes, file: path, baseDirectory: FilePath.parent(of: path))
    }

    /// Parses and checks the bytes of a pipeline file; `file` names it in errors.
    /// - Parameter baseDirectory: the directory commands run in and relative
    ///   `run` and `inputs` are taken from; `nil` is the file's directory.
    /// - Throws: as ``load(path:)``.
    public static func parse(_ bytes: [UInt8], file: String, baseDirectory: String? = nil) throws -> PipelineSpec {
        let text = try PipelineText.check(bytes, file: file)
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw PipelineText.error(from: error, file: file)
        }
        var reader = PipelineReader(file: file)
        guard let root else {
            throw reader.usage(SourceLocation(file: file, line: 1, column: 1), "the pipeline file is empty; it needs `name`, `run` and `stages`")
        }
        return try reader.read(root, baseDirectory: baseDirectory ?? FilePath.parent(of: file))
    }
}

/// The checks made on the bytes before YAML sees them.
enum PipelineText {
    static func location(ofByte offset: Int, in bytes: [UInt8], file: String) -> SourceLocation {
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

    static func check(_ bytes: [UInt8], file: String) throws -> String {
        func corrupt(_ offset: Int, _ reason: String) -> ResumableError {
            ResumableError(.corrupt, "\(location(ofByte: offset, in: bytes, file: file)): \(reason)", path: file)
        }
        if bytes.count > PipelineSpec.maxFileBytes {
            throw corrupt(0, "the pipeline file is \(bytes.count) bytes, more than the \(PipelineSpec.maxFileBytes >> 20) MiB a pipeline file may be.")
        }
        // Binary content: NUL and control characters other than tab, newline and carriage return.
        if let i = bytes.firstIndex(where: { $0 < 0x20 && $0 != 0x09 && $0 != 0x0A && $0 != 0x0D || $0 == 0x7F }) {
            throw corrupt(i, "the pipeline file holds binary data (byte 0x\(String(bytes[i], radix: 16)) at offset \(i)); it is not a YAML text file.")
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw corrupt(firstInvalidUTF8(bytes), "the pipeline file is not valid UTF-8; save it as UTF-8.")
        }
        // Aliases, counted before YAML expands them: `*name` after a space, a flow
        // indicator or at the start of a line (a `*` inside words is not an alias).
        var aliases = 0
        var previous: UInt8 = 0x0A
        for (i, b) in bytes.enumerated() {
            if b == UInt8(ascii: "*"), [0x0A, 0x20, 0x09, UInt8(ascii: "["), UInt8(ascii: "{"), UInt8(ascii: ","), UInt8(ascii: ":")].contains(previous) {
                aliases += 1
                if aliases > PipelineSpec.maxAliases {
                    throw corrupt(i, "the pipeline file uses more than \(PipelineSpec.maxAliases) YAML aliases; it is refused as a possible alias bomb.")
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

    static func error(from error: YamlError, file: String) -> ResumableError {
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
            return ResumableError(.corrupt, "\(file):1:1: the pipeline file cannot be read as YAML: \(problem)\(offset.map { " at character \($0)" } ?? "").", path: file, cause: error)
        default:
            return ResumableError(.corrupt, "\(file):1:1: the pipeline file cannot be read as YAML: \(error).", path: file, cause: error)
        }
    }
}
