import DurableFiles

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
        let bytes = try YAMLText.read(path: path, kind: .pipeline)
        return try parse(bytes, file: path, baseDirectory: FilePath.parent(of: path))
    }

    /// Parses and checks the bytes of a pipeline file; `file` names it in errors.
    /// - Parameter baseDirectory: the directory commands run in and relative
    ///   `run` and `inputs` are taken from; `nil` is the file's directory.
    /// - Throws: as ``load(path:)``.
    public static func parse(_ bytes: [UInt8], file: String, baseDirectory: String? = nil) throws -> PipelineSpec {
        let root = try YAMLText.compose(bytes, file: file, kind: .pipeline)
        var reader = YAMLReader(file: file, kind: .pipeline)
        guard let root else {
            throw reader.usage(SourceLocation(file: file, line: 1, column: 1), "the pipeline file is empty; it needs `name`, `run` and `stages`")
        }
        return try reader.read(root, baseDirectory: baseDirectory ?? FilePath.parent(of: file))
    }
}
