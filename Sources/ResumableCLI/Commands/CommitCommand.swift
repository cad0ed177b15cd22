import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import Logging
import Resumable

/// `resumable commit RUN --step N DIR`: commit files another program wrote.
struct CommitCommand: ParsableCommand, LoggingConfigurable {
    static let configuration = CommandConfiguration(
        commandName: "commit",
        abstract: "Commit a directory of files another program wrote as a checkpoint of RUN.",
        discussion: """
            Every file of DIR is hashed and made durable, .safetensors files are validated, and the
            checkpoint appears atomically at RUN/checkpoints/step-N. DIR is copied (it stays as it
            was) unless --move: its files are hard-linked in (copied across file systems) and removed
            from DIR only once the checkpoint is durable, so a crash never loses one; do not write to
            them until the commit returns. A file that changes while it is committed fails it (exit
            65): write the files completely first. The run is created
            when it does not exist. Retention options prune after the commit. Under `resumable run`,
            RESUMABLE_LOCK_TOKEN lets this command write while the supervisor holds the run's lock.
            A commit, once started, finishes: SIGTERM, SIGINT and SIGUSR1 are ignored while it runs,
            so a stop signal sent to the job's whole process group (as `resumable run` and Slurm do)
            reaches the training program, which decides to stop, and never cuts its checkpoint short.
            """)

    @Argument(help: ArgumentHelp("The run directory (created if needed).", valueName: "run"))
    var runDirectory: String

    @Argument(help: ArgumentHelp("The directory holding the checkpoint's files.", valueName: "dir"))
    var source: String

    @Option(help: ArgumentHelp("The step of the checkpoint.", valueName: "n"))
    var step: Int64

    @Option(help: ArgumentHelp("The epoch recorded in the manifest.", valueName: "e"))
    var epoch: Int64 = 0

    @Option(name: .customLong("metric"), help: ArgumentHelp("A metric NAME=NUMBER (repeatable).", valueName: "name=value"))
    var metrics: [String] = []

    @Option(name: .customLong("tag"), help: ArgumentHelp("A tag (repeatable; `pinned` protects from pruning).", valueName: "tag"))
    var tags: [String] = []

    @Option(
        name: .customLong("metadata"),
        help: ArgumentHelp("Free metadata KEY=VALUE, VALUE read as JSON when valid (repeatable).", valueName: "key=value"))
    var metadata: [String] = []

    @Flag(help: "Move the files in instead of copying them (hard links; removed from DIR after the commit).")
    var move = false

    @OptionGroup var retention: RetentionOptions
    @OptionGroup var monitor: MonitorOptions
    @OptionGroup var output: OutputOptions
    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        if step < 0 { throw ValidationError("--step must be 0 or more, not \(step).") }
        if epoch < 0 { throw ValidationError("--epoch must be 0 or more, not \(epoch).") }
        _ = try KeyValueArgument.metrics(metrics)
        do {
            _ = try KeyValueArgument.jsonValues(metadata, option: "--metadata")
        } catch let error as ResumableError {
            throw ValidationError(error.message)  // exit 64, as for any bad option
        }
    }

    func run() throws {
        StopSignals.ignore()
        let metricValues = try KeyValueArgument.metrics(metrics)
        let metadataValues = try KeyValueArgument.jsonValues(metadata, option: "--metadata")
        // Refused (exit 64) before the run is created or a file is copied.
        try Manifest.checkWritable(metadata: metadataValues)
        let store = try References.openRun(runDirectory, access: .write, create: true)
        if store.run.monitor == nil, let chosen = monitor.value {
            try store.updateRun { $0.monitor = chosen }
        }
        // Retention runs inside the commit: a failure there is a warning of a
        // committed checkpoint (exit 0), never a failed commit.
        store.retention = try retention.policy(monitor: monitor.value, run: store.run)
        store.protectedSteps = [step]
        let result = try store.commitDirectory(source, step: step, move: move) { draft in
            draft.epoch = epoch
            draft.metrics = metricValues
            draft.tags = tags
            draft.metadata = metadataValues
        }
        let checkpoint = result.checkpoint
        let report = result.pruned
        if output.json {
            Terminal.writeJSON(
                .object([
                    "step": .int(checkpoint.step), "path": .string(checkpoint.directory), "bytes": .int(checkpoint.bytes),
                    "files": .array(
                        checkpoint.manifest.files.map {
                            .object(["name": .string($0.name), "bytes": .int($0.bytes), "sha256": .string($0.sha256)])
                        }),
                    "pruned": .array((report?.deleted ?? []).map { .int($0) }),
                    "warnings": .array(result.warnings.map { .string($0) }),
                ]))
        } else {
            Terminal.write(checkpoint.directory + "\n")
            if let report, !report.deleted.isEmpty {
                References.logger.notice(
                    "Pruned \(report.deleted.count) checkpoint(s), freed \(HumanFormat.bytes(report.bytesFreed)): steps \(report.deleted.map(String.init).joined(separator: ", ")).")
            }
        }
    }
}

/// The stop signals a supervisor or a batch system sends a job's process group.
enum StopSignals {
    /// Ignores SIGTERM, SIGINT and SIGUSR1 for the rest of the process.
    static func ignore() {
        for s in [SIGTERM, SIGINT, SIGUSR1] { signal(s, SIG_IGN) }
    }
}
