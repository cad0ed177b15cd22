import ArgumentParser
import Logging
import Resumable

/// `resumable ls RUN`: the run's checkpoints, one a line.
struct LsCommand: ParsableCommand, LoggingConfigurable {
    static let configuration = CommandConfiguration(
        commandName: "ls",
        abstract: "List a run's checkpoints: step, epoch, metrics, size, age, tags, state.",
        discussion: """
            Without --verify the state is `unverified`, or `corrupt` when a file is missing or
            has the wrong size (a cheap check) or the manifest cannot be read. With --verify every
            file is hashed and the state is `ok` or `corrupt`, and the command exits 65 (like
            `verify`) when any checkpoint is corrupt, after listing them all.
            """)

    @Argument(help: ArgumentHelp("The run directory.", valueName: "run"))
    var runDirectory: String

    @Flag(help: "Recompute every checksum (reads every byte).")
    var verify = false

    @OptionGroup var monitor: MonitorOptions
    @OptionGroup var output: OutputOptions
    @OptionGroup var logging: LoggingOptions

    func run() throws {
        let store = try References.openRun(runDirectory)
        let listing = try CheckpointListing(store: store, verify: verify, monitor: monitor.value)
        if let latest = listing.latest, let newest = listing.entries.last, newest.state == .corrupt {
            References.logger.warning(
                "Checkpoint \(Checkpoint.directoryName(step: newest.step)) is corrupt (\(newest.problem ?? "damaged")); falling back to \(Checkpoint.directoryName(step: latest)) as latest.")
        }
        if output.json {
            Terminal.writeJSON(listing.json(run: runDirectory))
        } else {
            Terminal.write(listing.table())
        }
        let corrupt = listing.entries.filter { $0.state == .corrupt }.map { Checkpoint.directoryName(step: $0.step) }
        if verify && !corrupt.isEmpty {
            throw ResumableError(
                .corrupt,
                "\(corrupt.count) checkpoint(s) of \(runDirectory) are corrupt: \(corrupt.joined(separator: ", ")). `resumable verify \(runDirectory)` names the damaged files.",
                path: runDirectory)
        }
    }
}
