import DurableFiles

/// A checkpoint named on a command line or in `--resume`: `RUN` (its latest),
/// `RUN@latest`, `RUN@best`, `RUN@step-1200`, or a checkpoint directory
/// (one holding `manifest.json`).
public struct CheckpointReference: Sendable, Hashable, CustomStringConvertible {
    /// The run directory.
    public var run: String
    /// Which checkpoint of the run.
    public var selector: CheckpointSelector

    public init(run: String, selector: CheckpointSelector) {
        self.run = run
        self.selector = selector
    }

    /// Parses a reference.
    /// - Throws: `.usage` for a selector that is not `latest`, `best` or `step-N`.
    public init(parsing text: String) throws {
        // A checkpoint directory: RUN/checkpoints/step-N (with a manifest, or named like one).
        let trimmed = text.hasSuffix("/") && text.count > 1 ? String(text.dropLast()) : text
        let last = FilePath.lastComponent(of: trimmed)
        if let step = Checkpoint.step(fromDirectoryName: last),
            FilePath.lastComponent(of: FilePath.parent(of: trimmed)) == "checkpoints"
        {
            run = FilePath.parent(of: FilePath.parent(of: trimmed))
            selector = .step(step)
            return
        }
        if let at = trimmed.lastIndex(of: "@"), !FileSystem.exists(trimmed) {
            let selectorText = String(trimmed[trimmed.index(after: at)...])
            guard let selector = CheckpointSelector(selectorText) else {
                throw ResumableError(
                    .usage,
                    "\"\(selectorText)\" in \"\(text)\" is not a checkpoint: use RUN@latest, RUN@best or RUN@step-N.")
            }
            run = String(trimmed[..<at])
            self.selector = selector
            return
        }
        run = trimmed
        selector = .latest
    }

    public var description: String {
        switch selector {
        case .latest: return run + "@latest"
        case .best: return run + "@best"
        case .step: return run + "@" + selector.description
        }
    }
}
