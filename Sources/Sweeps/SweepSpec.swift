public import Pipelines

/// One parameter of the matrix and its values, in the order written.
public struct SweepAxis: Sendable, Hashable {
    public var name: String
    /// The values, in the order written, each once.
    public var values: [SweepValue]
    /// Where the parameter is declared.
    public var location: SourceLocation

    public init(name: String, values: [SweepValue], location: SourceLocation) {
        self.name = name
        self.values = values
        self.location = location
    }
}

/// A mapping of parameters to values written in `include` (an extra unit)
/// or `exclude` (matrix units to leave out).
public struct SweepCombination: Sendable, Hashable {
    /// The pairs, in the order written.
    public var params: [SweepParameter]
    /// Where the mapping is written.
    public var location: SourceLocation

    public init(params: [SweepParameter], location: SourceLocation) {
        self.params = params
        self.location = location
    }

    /// Whether `unitParams` holds every pair of this combination (equal
    /// names and equal typed values).
    public func matches(_ unitParams: [SweepParameter]) -> Bool {
        params.allSatisfy { pair in unitParams.contains { $0.name == pair.name && $0.value == pair.value } }
    }
}

/// A sweep file, parsed and checked, with its units expanded.
///
/// Read one with ``SweepSpec/load(path:allowLarge:)`` or
/// ``SweepSpec/parse(_:file:baseDirectory:allowLarge:)``; docs/SWEEPS.md
/// describes the format. Templates (``command``, ``env``, ``result``) are
/// kept as written; each ``SweepUnit`` holds them substituted.
public struct SweepSpec: Sendable, Hashable {
    /// The sweep's name (a directory name under `RUN/sweeps`).
    public var name: String
    /// The run directory as written (relative to ``baseDirectory``).
    public var run: String
    /// The command template as written: a string (run by `/bin/sh -c`) or a list (argv).
    public var command: StageCommand
    /// The matrix, in the file's order of parameters.
    public var matrix: [SweepAxis]
    /// Extra units, in the order written.
    public var include: [SweepCombination]
    /// Matrix units left out.
    public var exclude: [SweepCombination]
    /// The result path template (`{output}` unless written).
    public var result: String
    /// How many units run at once (1…256).
    public var workers: Int
    /// How many times a failed unit is started again (0…1000).
    public var retries: Int
    /// Seconds one attempt of a unit may take; `nil` for no limit.
    public var timeout: Double?
    /// Environment variable templates.
    public var env: [String: String]
    /// The supervisor's restart limit within one attempt.
    public var maxRestarts: Int
    /// Whether the file sets `max_restarts` (when it does not, a runner may
    /// use its own default instead of ``maxRestarts``: `sweep run --max-restarts`).
    public var setsMaxRestarts = false
    /// The directory the sweep file is in: commands run there, and relative
    /// `run` and `result` paths are taken from there.
    public var baseDirectory: String
    /// The file the spec was read from.
    public var file: String
    /// The run directory, absolute.
    public var runDirectory: String
    /// The units: the matrix product in the file's order (the last parameter
    /// varying fastest) without the excluded ones, then the includes; a unit
    /// whose key is already in the list is kept once.
    public var units: [SweepUnit]

    /// `RUN/sweeps/NAME`, absolute: where the sweep's records, claims and logs are.
    public var sweepDirectory: String { runDirectory + "/sweeps/" + name }

    /// The unit with `key`.
    public func unit(key: String) -> SweepUnit? { units.first { $0.key == key } }

    /// The names of every parameter (the matrix's, then those only includes have), in the order first written.
    public var parameterNames: [String] {
        var names = matrix.map(\.name)
        for combination in include {
            for p in combination.params where !names.contains(p.name) { names.append(p.name) }
        }
        return names
    }

    /// `result` when the file has none.
    public static let defaultResult = "{output}"
    /// `workers` when the file has none.
    public static let defaultWorkers = 1
    /// `retries` when the file has none.
    public static let defaultRetries = 0
    /// `max_restarts` when the file has none.
    public static let defaultMaxRestarts = 3

    /// The placeholders every template may use besides the parameters.
    public static let builtinPlaceholders = ["output", "unit_dir", "key", "run", "name"]
    /// The file a unit writes its result to by default (`{output}`), in its unit directory.
    public static let defaultResultFileName = "result.json"
}
