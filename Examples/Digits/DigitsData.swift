import Foundation
import Resumable

/// The handwritten digits (8×8 images, 10 classes), split into training and
/// validation sets.
struct DigitsData {
    /// Pixels scaled to [0, 1], 64 per example, row-major.
    var trainFeatures: [Float]
    var trainLabels: [Int]
    var validationFeatures: [Float]
    var validationLabels: [Int]

    static let featureCount = 64
    static let classCount = 10

    var trainCount: Int { trainLabels.count }
    var validationCount: Int { validationLabels.count }

    /// The data file next to this source file (a fresh clone has it).
    static var defaultPath: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("digits.csv.gz").path
    }

    /// Reads `digits.csv.gz` (decompressed by `gzip -dc`) and splits it with `seed`.
    /// - Throws: `.notFound` when the file or `gzip` is missing, `.corrupt` for a malformed row.
    static func load(path: String, validationFraction: Double, seed: UInt64) throws -> DigitsData {
        guard FileSystem.exists(path) else {
            throw ResumableError(
                .notFound, "the digits data file \(path) does not exist. Pass --data PATH to the copy of digits.csv.gz.",
                path: path)
        }
        let text = try decompress(path)
        var features: [[Float]] = []
        var labels: [Int] = []
        for (lineNumber, line) in text.split(separator: "\n").enumerated() where !line.isEmpty {
            let fields = line.split(separator: ",")
            guard fields.count == featureCount + 1, let label = Int(fields[featureCount]), (0..<classCount).contains(label)
            else {
                throw ResumableError(
                    .corrupt, "line \(lineNumber + 1) of \(path) is not 64 pixel values and a label 0-9.", path: path)
            }
            var row = [Float](repeating: 0, count: featureCount)
            for i in 0..<featureCount {
                guard let v = Float(fields[i]) else {
                    throw ResumableError(.corrupt, "line \(lineNumber + 1) of \(path) has a non-numeric pixel.", path: path)
                }
                row[i] = v / 16
            }
            features.append(row)
            labels.append(label)
        }
        guard labels.count >= 20 else {
            throw ResumableError(.corrupt, "\(path) holds only \(labels.count) examples.", path: path)
        }
        var order = Array(0..<labels.count)
        var generator = Xoshiro256StarStar(seed: seed ^ 0x5EED_DA7A)
        generator.shuffle(&order)
        let validationCount = max(1, Int(Double(labels.count) * validationFraction))
        let validation = order.prefix(validationCount)
        let training = order.dropFirst(validationCount)
        return DigitsData(
            trainFeatures: training.flatMap { features[$0] }, trainLabels: training.map { labels[$0] },
            validationFeatures: validation.flatMap { features[$0] }, validationLabels: validation.map { labels[$0] })
    }

    /// The text of a gzip file, through the system's `gzip -dc`.
    static func decompress(_ path: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["gzip", "-dc", path]
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        do {
            try process.run()
        } catch {
            throw ResumableError(
                .notFound, "cannot run gzip to read \(path) (\(error)). Install gzip (apt-get install gzip).", path: path)
        }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw ResumableError(
                .corrupt,
                "gzip could not decompress \(path) (exit \(process.terminationStatus)): \(message.trimmingCharacters(in: .whitespacesAndNewlines)). Is gzip installed and the file intact?",
                path: path)
        }
        return String(decoding: data, as: UTF8.self)
    }
}
