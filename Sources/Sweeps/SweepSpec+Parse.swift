import DurableFiles
import Pipelines

extension SweepSpec {
    /// Sweep files larger than this are refused (exit 65).
    public static let maxFileBytes = 1 << 20
    /// More units than this are refused (exit 64) unless `allowLarge`.
    public static let maxUnits = 10_000
    /// More units than this are refused (exit 64) even with `allowLarge`.
    public static let hardMaxUnits = 1_000_000
    /// At most this many parameters.
    public static let maxParameters = 100
    /// At most this many aliases (`*name`), as in a pipeline file (exit 65 beyond).
    public static let maxAliases = PipelineSpec.maxAliases
    /// At most this many YAML nodes once aliases are expanded, as in a pipeline file (exit 65 beyond).
    public static let maxExpandedNodes = PipelineSpec.maxExpandedNodes

    static let fileKind = YAMLFileKind(noun: "sweep file", maxBytes: maxFileBytes, maxAliases: maxAliases, maxExpandedNodes: maxExpandedNodes)

    /// Reads and checks a sweep file, and expands its units.
    ///
    /// Nothing runs and nothing is written: every mistake is found here, and
    /// the error names the file, the line and the column.
    /// - Parameters:
    ///   - path: the sweep file; relative `run` and `result` paths are taken from its directory.
    ///   - allowLarge: accept more than ``maxUnits`` units (up to ``hardMaxUnits``): `--allow-large`.
    /// - Throws: `ResumableError` `.usage` (exit 64) for a mistake in the
    ///   declaration (unknown key, wrong type, a missing `name`, `run` or
    ///   `command`, an empty matrix or value list, a list, mapping or null as
    ///   a value, a duplicate key, an unknown placeholder, an exclude naming
    ///   an unknown parameter or matching nothing, too many units);
    ///   `.corrupt` (exit 65) for data that is not a sweep file at all (larger
    ///   than ``maxFileBytes``, not UTF-8, binary, a YAML syntax error, an
    ///   alias bomb); `.notFound` when the file does not exist.
    public static func load(path: String, allowLarge: Bool = false) throws -> SweepSpec {
        let bytes = try YAMLText.read(path: path, kind: fileKind)
        return try parse(bytes, file: path, baseDirectory: FilePath.parent(of: path), allowLarge: allowLarge)
    }

    /// Parses and checks the bytes of a sweep file; `file` names it in errors.
    /// - Parameter baseDirectory: the directory commands run in and relative
    ///   `run` and `result` paths are taken from; `nil` is the file's directory.
    /// - Throws: as ``load(path:allowLarge:)``.
    public static func parse(_ bytes: [UInt8], file: String, baseDirectory: String? = nil, allowLarge: Bool = false) throws -> SweepSpec {
        let root = try YAMLText.compose(bytes, file: file, kind: fileKind)
        var reader = SweepReader(file: file, allowLarge: allowLarge)
        guard let root else {
            throw reader.yaml.usage(
                SourceLocation(file: file, line: 1, column: 1), "the sweep file is empty; it needs `name`, `run`, `command` and `matrix`")
        }
        return try reader.read(root, baseDirectory: baseDirectory ?? FilePath.parent(of: file))
    }

    /// Parses and checks the text of a sweep file; `file` names it in errors.
    /// - Throws: as ``load(path:allowLarge:)``.
    public static func parse(_ text: String, file: String, baseDirectory: String? = nil, allowLarge: Bool = false) throws -> SweepSpec {
        try parse(Array(text.utf8), file: file, baseDirectory: baseDirectory, allowLarge: allowLarge)
    }
}
