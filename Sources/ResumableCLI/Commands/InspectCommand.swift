import ArgumentParser
import Resumable

/// `resumable inspect REF`: a checkpoint's manifest, tensors and state keys.
struct InspectCommand: ParsableCommand, LoggingConfigurable {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show a checkpoint: its manifest, the tensors of each safetensors file, the keys of state.json.")

    @Argument(help: ArgumentHelp("RUN, RUN@latest, RUN@best, RUN@step-N or a checkpoint directory.", valueName: "ref"))
    var reference: String

    @Flag(help: "Resolve RUN / RUN@latest to the newest, RUN@best to the best, checkpoint whose checksums match, falling back past corrupt ones.")
    var verify = false

    @Flag(help: "Print everything: the whole training history, every item of long arrays (text output; --json is always whole).")
    var full = false

    @OptionGroup var monitor: MonitorOptions
    @OptionGroup var output: OutputOptions
    @OptionGroup var logging: LoggingOptions

    func run() throws {
        let resolved = try References.resolve(reference, monitor: monitor.value, verify: verify)
        if verify, try References.isExact(reference) {
            // latest and best fell back past damaged checkpoints; an exact one has nothing to fall back to.
            let report = try CheckpointStore.verify(resolved.checkpoint)
            guard report.isIntact else {
                throw ResumableError(
                    .corrupt, "\(resolved.checkpoint.directory) is damaged (\(report.summary)); `resumable verify` says more, or inspect another checkpoint.",
                    path: resolved.checkpoint.directory)
            }
        }
        let inspection = try CheckpointInspection(resolved.checkpoint)
        if output.json {
            Terminal.writeJSON(inspection.json)
        } else {
            Terminal.write(inspection.text(full: full))
        }
    }
}
