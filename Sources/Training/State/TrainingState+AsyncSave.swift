public import CheckpointStore

extension TrainingState {
    /// Saves the whole state at `step` through `writer`: the tensors are
    /// copied into its snapshot buffer during the call, and the checkpoint
    /// (the same files and manifest as `save(to:)`) is written and committed
    /// in the background. Change the state freely once this returns.
    ///
    /// - Parameters:
    ///   - writer: the writer; with `.wait`, the call first waits for the save in flight.
    ///   - step: the checkpoint's step.
    ///   - configure: sets metrics, tags and metadata on the draft (before the call returns).
    /// - Returns: `true` when the save was started, `false` when the writer's `.skip` policy skipped it.
    /// - Throws: the error of the writer's previous background save, if it
    ///   failed; `.conflict` when `step` is committed; `.usage` for a state
    ///   that cannot be encoded.
    @discardableResult
    public func save(
        with writer: AsyncCheckpointWriter, step: Int64, configure: (CheckpointDraft) throws -> Void = { _ in }
    ) throws -> Bool {
        let contents = try checkpointContents()
        return try writer.save(step: step, tensorFiles: contents.tensorFiles, files: contents.files) { draft in
            describe(in: draft)
            try configure(draft)
        }
    }
}
