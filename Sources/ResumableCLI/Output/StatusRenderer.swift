import Resumable

/// Renders a `RunStatus` for people: each section's title, then its rows
/// with aligned labels. Sections added by other parts of Resumable render the same way.
enum StatusRenderer {
    static func render(_ status: RunStatus) -> String {
        var out = ""
        for (i, section) in status.sections.enumerated() {
            if i > 0 { out += "\n" }
            out += section.title + "\n"
            let width = section.rows.map(\.label.count).max() ?? 0
            for row in section.rows {
                out += "  " + row.label + ":" + String(repeating: " ", count: width - row.label.count + 1) + row.value + "\n"
            }
        }
        return out
    }
}
