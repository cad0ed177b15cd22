public import JSON
import DurableFiles

/// The results of a sweep's finished units, gathered (`resumable sweep merge`):
/// `results.json` and the table `results.csv` is written from.
///
/// Only `done` units are merged, in the spec's order; the others are listed
/// in ``notDone`` and left out. The CSV text itself is made by the caller
/// (the command line uses the CSV.swift library), from ``table``.
public struct SweepMerge: Sendable {
    /// One finished unit.
    public struct Row: Sendable {
        public var unit: SweepUnit
        public var record: UnitRecord
        /// The result as `results.json` holds it: the parsed JSON, or `{"path", "bytes", "sha256"}` for a file.
        public var result: JSONValue
    }

    /// The sweep's name.
    public var name: String
    /// `RUN/sweeps/NAME`.
    public var sweepDirectory: String
    /// The done units, in the spec's order.
    public var rows: [Row]
    /// The units left out: not done (their status; `nil` for a damaged record), in the spec's order.
    public var notDone: [(unit: SweepUnit, status: UnitStatus?)]
    /// The parameter columns: the matrix's parameters in the file's order, then those only includes have.
    public var parameterColumns: [String]
    /// The result columns: every flattened field of the rows' results (nested
    /// objects joined with dots, `metrics.acc`), sorted; a field whose name is a
    /// parameter's is prefixed `result.`.
    public var resultColumns: [String]
    /// Each row's result cells by column name (absent fields are absent).
    var resultCells: [[String: String]]

    /// `RUN/sweeps/NAME/results.json`.
    public var jsonPath: String { sweepDirectory + "/results.json" }
    /// `RUN/sweeps/NAME/results.csv`.
    public var csvPath: String { sweepDirectory + "/results.csv" }

    /// Gathers the done units of `spec` from their records.
    /// - Throws: when `units/` cannot be listed; a damaged record is a unit left out, not an error.
    public static func make(spec: SweepSpec) throws -> SweepMerge {
        let records = try SweepStore(spec: spec).records()
        var byKey: [String: StoredRecord] = [:]
        for stored in records { byKey[stored.key] = stored }
        var rows: [Row] = []
        var notDone: [(unit: SweepUnit, status: UnitStatus?)] = []
        for unit in spec.units {
            switch byKey[unit.key] {
            case nil: notDone.append((unit, .pending))
            case .damaged?: notDone.append((unit, nil))
            case .valid(let record)?:
                let status = record.observedStatus
                if status == .done, let result = record.result {
                    rows.append(Row(unit: unit, record: record, result: Self.resultJSON(result)))
                } else {
                    notDone.append((unit, status))
                }
            }
        }
        let parameterColumns = spec.parameterNames
        let taken = Set(parameterColumns)
        var cells: [[String: String]] = []
        var columns = Set<String>()
        for row in rows {
            var flat: [String: String] = [:]
            Self.flatten(row.result, prefix: nil, into: &flat)
            var named: [String: String] = [:]
            for (field, cell) in flat {
                let column = taken.contains(field) ? "result." + field : field
                if named[column] == nil { named[column] = cell }
                columns.insert(column)
            }
            cells.append(named)
        }
        return SweepMerge(
            name: spec.name, sweepDirectory: spec.sweepDirectory, rows: rows, notDone: notDone, parameterColumns: parameterColumns,
            resultColumns: columns.sorted(by: Self.bytewise), resultCells: cells)
    }

    static func bytewise(_ a: String, _ b: String) -> Bool { Array(a.utf8).lexicographicallyPrecedes(Array(b.utf8)) }

    /// The result as `results.json` holds it: a JSON result as parsed, a file as `{"path", "bytes", "sha256"}`.
    public static func resultJSON(_ result: UnitResult) -> JSONValue {
        switch result {
        case .json(let value): return value
        case .file: return result.json
        }
    }

    /// The leaves of `value` by their dotted path: an object's fields
    /// recursively (`metrics.acc`), anything else a cell (``cell(_:)``); an
    /// empty object is the cell `{}`, a result that is no object the column `result`.
    /// When two paths are the same text (`{"a.b": 1, "a": {"b": 2}}`), the first in sorted key order is kept.
    static func flatten(_ value: JSONValue, prefix: String?, into out: inout [String: String]) {
        if case .object(let o) = value, !o.isEmpty {
            for key in o.keys.sorted(by: bytewise) {
                flatten(o[key]!, prefix: prefix.map { $0 + "." + key } ?? key, into: &out)
            }
            return
        }
        let name = prefix ?? "result"
        if out[name] == nil { out[name] = cell(value) }
    }

    /// A value as a CSV cell: a string as it is, a number or boolean as its
    /// JSON text, null as an empty cell, a list or object as JSON text.
    public static func cell(_ value: JSONValue) -> String {
        switch value {
        case .null: return ""
        case .string(let s): return s
        default: return value.serialized()
        }
    }

    /// The table `results.csv` holds: the header (parameter columns, then
    /// result columns), then one row per done unit; a parameter the unit does
    /// not have and a field its result lacks are empty cells.
    public var table: [[String]] {
        var table: [[String]] = [parameterColumns + resultColumns]
        table.reserveCapacity(rows.count + 1)
        for (row, cells) in zip(rows, resultCells) {
            table.append(parameterColumns.map { row.unit.value(of: $0)?.text ?? "" } + resultColumns.map { cells[$0] ?? "" })
        }
        return table
    }

    /// `results.json`: an array of `{"key", "params", "result"}`, one per done unit, in the spec's order.
    public var resultsJSON: JSONValue {
        .array(rows.map { .object(["key": .string($0.unit.key), "params": $0.unit.paramsJSON, "result": $0.result]) })
    }

    /// Writes `results.json` and `csv` (the bytes of `results.csv`), each
    /// atomically and durably (a temporary file, fsync, rename, fsync of the
    /// directory), creating the sweep directory when missing.
    /// - Throws: `.corrupt` when a link, directory or special file stands at
    ///   either path (never written through); I/O errors.
    public func write(csv: [UInt8]) throws {
        try SweepStore(directory: sweepDirectory).createDirectories()
        for path in [jsonPath, csvPath] {
            let found = FileSystem.entryType(path)
            guard found == .missing || found == .regular else { throw FileSystem.misplacedEntry(path, found: found, expected: .regular) }
        }
        try FileSystem.writeAtomically(Array(resultsJSON.prettyPrinted().utf8), to: jsonPath)
        try FileSystem.writeAtomically(csv, to: csvPath)
    }
}
