/// A place in a pipeline file: the file, and the 1-based line and column.
public struct SourceLocation: Sendable, Hashable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int

    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    /// `FILE:LINE:COLUMN`, the form compilers and editors understand.
    public var description: String { "\(file):\(line):\(column)" }
}

/// How a stage's command is started.
///
/// A string is one shell command line, run as `/bin/sh -c LINE` (pipes,
/// redirections and `&&` work); a list is an argument vector executed directly,
/// without a shell (no quoting to get wrong). Placeholders are substituted in
/// both forms before anything runs.
public enum StageCommand: Sendable, Hashable {
    /// `/bin/sh -c LINE`.
    case shell(String)
    /// The program and its arguments, executed directly.
    case arguments([String])

    /// The argument vector that starts the command.
    public var argv: [String] {
        switch self {
        case .shell(let line): return ["/bin/sh", "-c", line]
        case .arguments(let argv): return argv
        }
    }

    /// The command's canonical text, the form its fingerprint is taken of:
    /// `sh:` and the line, or `argv:` and the arguments NUL-separated.
    public var canonicalText: String {
        switch self {
        case .shell(let line): return "sh:" + line
        case .arguments(let argv): return "argv:" + argv.joined(separator: "\u{0}")
        }
    }
}

/// One stage of a pipeline, as the pipeline file declares it (placeholders substituted).
public struct StageSpec: Sendable, Hashable {
    /// The stage's name: letters, digits, `_`, `-` and `.`, not starting with `.`.
    public var name: String
    /// The command, with `{run}`, `{stage_dir}` and `{name}` substituted.
    public var command: StageCommand
    /// The stages whose outputs this one uses, in the order written.
    public var needs: [String]
    /// Files or directories (relative to the pipeline file's directory, or
    /// absolute) whose content belongs to the stage's fingerprint.
    public var inputs: [String]
    /// Files the stage promises, relative to the run directory.
    public var outputs: [String]
    /// Environment variables set for the stage (placeholders substituted).
    public var env: [String: String]
    /// How many times `pipeline run` starts the stage again after a failed attempt; `nil` is 0.
    public var retries: Int?
    /// The supervisor's restart limit inside one attempt (crashes); `nil` is the supervisor's default.
    public var maxRestarts: Int?
    /// Whether `--skip` may leave the stage out.
    public var optional: Bool
    /// Where the stage is declared.
    public var location: SourceLocation

    public init(
        name: String, command: StageCommand, needs: [String] = [], inputs: [String] = [], outputs: [String] = [],
        env: [String: String] = [:], retries: Int? = nil, maxRestarts: Int? = nil, optional: Bool = false,
        location: SourceLocation = SourceLocation(file: "<memory>", line: 1, column: 1)
    ) {
        self.name = name
        self.command = command
        self.needs = needs
        self.inputs = inputs
        self.outputs = outputs
        self.env = env
        self.retries = retries
        self.maxRestarts = maxRestarts
        self.optional = optional
        self.location = location
    }
}

/// A check run before any stage (`preflight:` in the pipeline file): a command that must exit 0.
public struct PreflightCheck: Sendable, Hashable {
    public var name: String
    public var command: StageCommand
    public var location: SourceLocation

    public init(name: String, command: StageCommand, location: SourceLocation) {
        self.name = name
        self.command = command
        self.location = location
    }
}

/// A pipeline file, parsed and checked: every stage's needs exist, there is
/// no cycle, and ``stages`` is in a dependency order (a stage after
/// everything it needs; otherwise the order of the file).
///
/// Read one with ``PipelineSpec/load(path:)`` or ``PipelineSpec/parse(_:file:)``;
/// docs/PIPELINES.md describes the format.
public struct PipelineSpec: Sendable, Hashable {
    /// The pipeline's name.
    public var name: String
    /// The run directory as written (relative paths are relative to ``baseDirectory``).
    public var run: String
    /// The stages, in dependency order.
    public var stages: [StageSpec]
    /// The user's own checks, in the order written.
    public var preflight: [PreflightCheck]
    /// The directory the pipeline file is in: commands run there, and relative
    /// `run` and `inputs` are taken from there.
    public var baseDirectory: String
    /// The file the spec was read from.
    public var file: String

    /// The stage named `name`.
    public func stage(named name: String) -> StageSpec? { stages.first { $0.name == name } }

    /// The run directory as a path usable from the current directory.
    public var runDirectory: String { Self.resolve(run, against: baseDirectory) }

    /// `path` when absolute, otherwise `base/path`.
    static func resolve(_ path: String, against base: String) -> String {
        if path.hasPrefix("/") || base.isEmpty || base == "." { return path }
        return base + "/" + path
    }

    /// The names of `roots` and every stage downstream of them (that needs them, directly or not).
    public func downstream(of roots: Set<String>) -> Set<String> {
        var result = roots
        for stage in stages where !result.contains(stage.name) {
            // Stages are in dependency order, so one pass sees every upstream first.
            if stage.needs.contains(where: result.contains) { result.insert(stage.name) }
        }
        return result
    }
}
