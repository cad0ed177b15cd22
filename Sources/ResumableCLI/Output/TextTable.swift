/// A plain-text table with a header row, columns padded to their widest cell.
struct TextTable {
    /// How a column's cells are aligned.
    enum Alignment { case left, right }

    var headers: [String]
    var alignments: [Alignment]
    private(set) var rows: [[String]] = []

    init(_ columns: [(String, Alignment)]) {
        headers = columns.map(\.0)
        alignments = columns.map(\.1)
    }

    mutating func append(_ row: [String]) { rows.append(row) }

    /// The table as text, one line per row, ending in a newline; trailing spaces trimmed.
    func rendered() -> String {
        var widths = headers.map(\.count)
        let counted = rows.map { $0.map(\.count) }
        for row in counted {
            for (i, w) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], w) }
        }
        var out = ""
        out.reserveCapacity((rows.count + 1) * (widths.reduce(0, +) + 2 * widths.count))
        func line(_ cells: [String], _ lengths: [Int]) {
            var text = ""
            for (i, cell) in cells.enumerated() where i < widths.count {
                let pad = String(repeating: " ", count: widths[i] - lengths[i])
                if i > 0 { text += "  " }
                text += alignments[i] == .right ? pad + cell : cell + pad
            }
            while text.hasSuffix(" ") { text.removeLast() }
            out += text + "\n"
        }
        line(headers, headers.map(\.count))
        for (row, lengths) in zip(rows, counted) { line(row, lengths) }
        return out
    }
}
