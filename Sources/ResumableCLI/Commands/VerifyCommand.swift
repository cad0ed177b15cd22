import ArgumentParser
import Resumable

/// `resumable verify REF|RUN`: recompute checksums.
struct VerifyCommand: ParsableCommand, LoggingConfigurable {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Recompute a checkpoint's checksums; exit 65 naming the damaged files and tensors.",
        discussion: "RUN verifies its latest checkpoint; --all verifies every checkpoint of the run.")

    @Argument(help: ArgumentHelp("RUN, RUN@latest, RUN@best, RUN@step-N or a checkpoint directory.", valueName: "ref"))
    var reference: String

    @Flag(help: "Verify every checkpoint of the run.")
    var all = false

    @OptionGroup var monitor: MonitorOptions
    @OptionGroup var output: OutputOptions
    @OptionGroup var logging: LoggingOptions

    func run() throws {
        let reports = try all ? verifyAll() : [verifyOne()]
        let intact = reports.allSatisfy(\.isIntact)
        if output.json {
            Terminal.writeJSON(.object(["intact": .bool(intact), "checkpoints": .array(reports.map(Self.json))]))
        } else {
            for report in reports { Terminal.write(Self.text(report)) }
        }
        if !intact {
            let damaged = reports.filter { !$0.isIntact }.count
            throw ResumableError(
                .corrupt,
                "\(damaged) of \(reports.count) checkpoint\(reports.count == 1 ? "" : "s") failed verification: "
                    + reports.filter { !$0.isIntact }.map { "\(Checkpoint.directoryName(step: $0.step)) (\($0.summary))" }.joined(separator: "; ")
                    + ".")
        }
    }

    /// The report of the checkpoint the reference names. For `RUN` and
    /// `RUN@latest` that is the highest step directory, even when its manifest is damaged.
    func verifyOne() throws -> VerificationReport {
        if let standalone = try References.standaloneCheckpoint(reference) {
            return try CheckpointStore.verify(standalone)
        }
        let parsed = try CheckpointReference(parsing: reference)
        if case .latest = parsed.selector {
            let store = try References.openRun(parsed.run)
            guard let step = try store.committedSteps().last else {
                throw ResumableError(.notFound, "the run \(parsed.run) has no committed checkpoint.", path: parsed.run)
            }
            return try Self.verify(step: step, in: store)
        }
        let resolved = try References.resolve(reference, monitor: monitor.value)
        return try CheckpointStore.verify(resolved.checkpoint)
    }

    /// Reports for every step directory of the run.
    func verifyAll() throws -> [VerificationReport] {
        try References.requireLocal(reference)
        if let standalone = try References.standaloneCheckpoint(reference) {
            return [try CheckpointStore.verify(standalone)]
        }
        let store = try References.openRun(try CheckpointReference(parsing: reference).run)
        let steps = try store.committedSteps()
        var progress = Progress()
        var reports: [VerificationReport] = []
        for (i, step) in steps.enumerated() {
            progress.update("verifying \(Checkpoint.directoryName(step: step)) (\(i + 1)/\(steps.count))")
            reports.append(try Self.verify(step: step, in: store))
        }
        progress.finish()
        return reports
    }

    /// Verifies one step; a damaged manifest is a problem of `manifest.json`.
    static func verify(step: Int64, in store: CheckpointStore) throws -> VerificationReport {
        do {
            return try store.verify(store.checkpoint(step: step))
        } catch let error as ResumableError where error.code == .corrupt || error.code == .unsupportedVersion {
            return VerificationReport(
                step: step, directory: store.directory(of: step),
                problems: [FileProblem(file: "manifest.json", tensors: [], reason: error.message)], bytesChecked: 0)
        }
    }

    static func json(_ report: VerificationReport) -> JSONValue {
        .object([
            "step": .int(report.step), "path": .string(report.directory), "intact": .bool(report.isIntact),
            "bytes_checked": .int(report.bytesChecked),
            "problems": .array(
                report.problems.map {
                    .object(["file": .string($0.file), "tensors": .array($0.tensors.map { .string($0) }), "reason": .string($0.reason)])
                }),
        ])
    }

    static func text(_ report: VerificationReport) -> String {
        let name = Checkpoint.directoryName(step: report.step)
        guard !report.isIntact else { return "\(name): ok (\(HumanFormat.bytes(report.bytesChecked)) checked)\n" }
        var out = "\(name): CORRUPT\n"
        for problem in report.problems { out += "  \(problem)\n" }
        return out
    }
}
