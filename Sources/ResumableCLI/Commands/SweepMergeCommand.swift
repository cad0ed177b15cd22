import ArgumentParser
import Logging
import Resumable

/// `resumable sweep merge FILE`: the finished units' results in `results.json` and `results.csv`.
struct SweepMergeCommand: ParsableCommand, LoggingConfigurable {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Gather the results of a sweep's finished units into results.json and results.csv.",
        discussion: """
            Writes RUN/sweeps/NAME/results.json (an array of {key, params, result} for every done \
            unit, in the sweep's order; a result that is a file is {path, bytes, sha256}) and \
            RUN/sweeps/NAME/results.csv (one row per done unit: the parameters in the file's \
            order, then the result's fields flattened with dots, e.g. metrics.acc, sorted; empty \
            cells where a unit has no such field; lists as JSON text). Both are written atomically. \
            Units not done are left out, with a warning. Exit 0; 64/65 for a bad sweep file.
            """)

    @OptionGroup var sweep: SweepFileOptions

    @OptionGroup var output: OutputOptions
    @OptionGroup var logging: LoggingOptions

    func run() throws {
        let spec = try sweep.load()
        let merge = try SweepMerge.make(spec: spec)
        try merge.write(csv: try CSVText.encode(merge.table))
        let left = merge.notDone
        if !left.isEmpty {
            var counts: [String: Int] = [:]
            for (_, status) in left { counts[status?.rawValue ?? "damaged", default: 0] += 1 }
            let order = ["pending", "running", "interrupted", "failed", "damaged"]
            let said = order.compactMap { s in counts[s].map { "\($0) \(s)" } }.joined(separator: ", ")
            References.logger.warning(
                "\(left.count) unit\(left.count == 1 ? " is" : "s are") not done and left out (\(said)); `resumable sweep status` shows them.")
        }
        if output.json {
            Terminal.writeJSON(
                .object([
                    "done": .int(Int64(merge.rows.count)), "total": .int(Int64(spec.units.count)),
                    "not_done": .array(
                        left.map { .object(["key": .string($0.unit.key), "params": $0.unit.paramsJSON, "status": .string($0.status?.rawValue ?? "damaged")]) }),
                    "results_json": .string(merge.jsonPath), "results_csv": .string(merge.csvPath),
                    "columns": .array((merge.parameterColumns + merge.resultColumns).map { .string($0) }),
                ]))
            return
        }
        var out = "Merged \(merge.rows.count) of \(spec.units.count) units"
        out += left.isEmpty ? ".\n" : " (\(left.count) not done, left out).\n"
        out += "  \(merge.jsonPath)\n  \(merge.csvPath)  (\(merge.parameterColumns.count) parameter and \(merge.resultColumns.count) result columns)\n"
        Terminal.write(out)
    }
}
