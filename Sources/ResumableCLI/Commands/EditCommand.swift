import ArgumentParser
import Resumable

/// `resumable edit REF`: rewrite a checkpoint's manifest metadata.
struct EditCommand: ParsableCommand, LoggingConfigurable {
    static let configuration = CommandConfiguration(
        commandName: "edit",
        abstract: "Set or remove manifest keys and tags of a checkpoint (atomic rewrite; unknown keys are kept).",
        discussion: """
            KEY is a dotted path into the manifest (metadata.wandb_run_id, metrics.val_loss, my_key).
            VALUE is read as JSON when it is valid JSON, as a string otherwise. format, version,
            files, step and created_at record what was committed and cannot be edited (exit 64).
            """)

    @Argument(help: ArgumentHelp("RUN, RUN@latest, RUN@best, RUN@step-N or a checkpoint directory of a run.", valueName: "ref"))
    var reference: String

    @Option(name: .customLong("set"), help: ArgumentHelp("Set KEY to VALUE (repeatable).", valueName: "key=value"))
    var sets: [String] = []

    @Option(name: .customLong("unset"), help: ArgumentHelp("Remove KEY (repeatable).", valueName: "key"))
    var unsets: [String] = []

    @Option(name: .customLong("tag"), help: ArgumentHelp("Add a tag (repeatable; `pinned` protects from pruning).", valueName: "tag"))
    var tags: [String] = []

    @Option(name: .customLong("untag"), help: ArgumentHelp("Remove a tag (repeatable).", valueName: "tag"))
    var untags: [String] = []

    @OptionGroup var monitor: MonitorOptions
    @OptionGroup var output: OutputOptions
    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        if sets.isEmpty && unsets.isEmpty && tags.isEmpty && untags.isEmpty {
            throw ValidationError("nothing to edit: give --set KEY=VALUE, --unset KEY, --tag TAG or --untag TAG.")
        }
    }

    func run() throws {
        if try References.standaloneCheckpoint(reference) != nil {
            throw ResumableError(
                .usage, "\(reference) is a checkpoint outside a run; edit needs RUN@step-N or RUN/checkpoints/step-N so it can lock the run.")
        }
        let resolved = try References.resolve(reference, monitor: monitor.value, access: .write)
        guard let store = resolved.store else { return }
        var edits = try sets.map { try ManifestEdit.parseSet($0) } + unsets.map { ManifestEdit.unset(path: $0) }
        if !tags.isEmpty || !untags.isEmpty {
            var updated = resolved.checkpoint.manifest.tags.filter { !untags.contains($0) }
            for tag in tags where !updated.contains(tag) { updated.append(tag) }
            edits.append(.set(path: "tags", value: .array(updated.map { .string($0) })))
        }
        let edited = try store.edit(step: resolved.checkpoint.step, edits)
        if output.json {
            Terminal.writeJSON(.object(["path": .string(edited.directory), "step": .int(edited.step), "manifest": edited.manifest.json]))
        } else {
            var changes = sets.map { "set \($0)" } + unsets.map { "unset \($0)" }
            changes += tags.map { "tag \($0)" } + untags.map { "untag \($0)" }
            Terminal.write("Edited \(edited.directory): \(changes.joined(separator: ", ")).\n")
        }
    }
}
