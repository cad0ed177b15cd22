import Resumable

/// The text and JSON forms of a `CheckpointComparison`.
enum DiffRenderer {
    /// The `diff --json` document.
    static func json(_ c: CheckpointComparison) -> JSONValue {
        .object([
            "a": side(c.a), "b": side(c.b), "identical": .bool(c.tensorsAreIdentical), "tolerance": .number(c.tolerance),
            "tensors": .array(c.tensors.map(json)),
            "files": .array(c.files.map { .object(["name": .string($0.name), "status": .string($0.status.rawValue)]) }),
            "metadata": .array(
                c.metadata.map { .object(["key": .string($0.key), "a": $0.a ?? .null, "b": $0.b ?? .null]) }),
        ])
    }

    static func side(_ checkpoint: Checkpoint) -> JSONValue {
        .object(["step": .int(checkpoint.step), "path": .string(checkpoint.directory)])
    }

    static func json(_ t: CheckpointComparison.TensorEntry) -> JSONValue {
        func info(_ i: TensorInfo?) -> JSONValue {
            guard let i else { return .null }
            return .object(["dtype": .string(i.dtype.rawValue), "shape": .array(i.shape.map { .int(Int64($0)) })])
        }
        return .object([
            "name": .string(t.name), "status": .string(t.status.rawValue),
            "file_a": t.fileA.map { .string($0) } ?? .null, "file_b": t.fileB.map { .string($0) } ?? .null,
            "a": info(t.infoA), "b": info(t.infoB),
            "max_abs_diff": t.difference?.maxAbsoluteDifference.map { .number($0) } ?? .null,
            "differing_elements": t.difference.map { .int(Int64($0.differingElements)) } ?? .null,
            "elements": t.difference.map { .int(Int64($0.elements)) } ?? .null,
        ])
    }

    /// The text `diff` prints; long arrays (a training history) are summarised
    /// by their lengths, first differing index and last items unless `full`.
    static func text(_ c: CheckpointComparison, full: Bool = false) -> String {
        var out = "a: \(c.a.directory) (step \(c.a.step))\nb: \(c.b.directory) (step \(c.b.step))\n"
        var table = TextTable([("TENSOR", .left), ("FILE", .left), ("RESULT", .left)])
        for t in c.tensors {
            let file = t.fileA == t.fileB || t.fileB == nil ? (t.fileA ?? "") : t.fileA.map { "\($0) / \(t.fileB!)" } ?? t.fileB!
            table.append([t.name, file, describe(t)])
        }
        let same = c.tensors.filter { $0.status.isSame }.count
        out += "\nTensors: \(same) of \(c.tensors.count) equal\(c.tolerance > 0 ? " (tolerance \(HumanFormat.number(c.tolerance)))" : "")\n"
        if !c.tensors.isEmpty { out += table.rendered() }
        let changedFiles = c.files.filter { $0.status != .equal }
        if !changedFiles.isEmpty {
            out += "\nFiles\n"
            for f in changedFiles { out += "  \(f.name): \(f.status.rawValue.split(separator: "_").joined(separator: " "))\n" }
        }
        if !c.metadata.isEmpty {
            out += "\nMetadata\n"
            for d in c.metadata {
                out += "  \(d.key): \(Abbreviation.difference(d.a, d.b, full: full))\n"
            }
        }
        out += c.tensorsAreIdentical ? "\nThe tensors are identical.\n" : "\nThe tensors differ.\n"
        return out
    }

    static func describe(_ t: CheckpointComparison.TensorEntry) -> String {
        func shape(_ i: TensorInfo?) -> String { i.map { "\($0.dtype.rawValue)[" + $0.shape.map(String.init).joined(separator: ",") + "]" } ?? "?" }
        switch t.status {
        case .equal: return "equal"
        case .withinTolerance, .different:
            let d = t.difference
            let count = d.map { " (\($0.differingElements) of \($0.elements) elements)" } ?? ""
            let max = d?.maxAbsoluteDifference.map { "max abs diff \(HumanFormat.number($0))" } ?? "bytes differ"
            return (t.status == .withinTolerance ? "within tolerance, " : "different, ") + max + count
        case .onlyInA: return "only in a"
        case .onlyInB: return "only in b"
        case .dtypeDiffers, .shapeDiffers: return "\(shape(t.infoA)) vs \(shape(t.infoB))"
        }
    }
}
