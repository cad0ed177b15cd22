import CSV
import Foundation
import Resumable

/// A table as CSV text (RFC 4180: fields quoted when they hold a comma, a
/// quote or a line break, quotes doubled; rows end in `\n`), written with
/// the CSV.swift library's `CSVWriter`.
enum CSVText {
    /// The UTF-8 bytes of `table` as CSV, ending in a newline.
    static func encode(_ table: [[String]]) throws -> [UInt8] {
        let stream = OutputStream(toMemory: ())
        let writer = try CSVWriter(stream: stream)
        for row in table {
            // A row of one empty field would be an empty line, which readers skip: quote it.
            if row.count == 1 && row[0].isEmpty {
                writer.beginNewRow()
                try writer.write(field: "", quoted: true)
                continue
            }
            try writer.write(row: row)
        }
        writer.stream.close()
        guard let data = stream.property(forKey: .dataWrittenToMemoryStreamKey) as? Data else {
            throw ResumableError(.io, "the CSV text could not be made.")
        }
        var bytes = [UInt8](data)
        if !bytes.isEmpty { bytes.append(0x0A) }
        return bytes
    }
}
