import CheckpointStore
import Logging

extension TrainingSession {
    /// Waits for the background save in flight (if any), then records and
    /// reports its checkpoint. Does nothing with synchronous saves.
    /// - Throws: the background save's error (the same `ResumableError` a
    ///   synchronous save would have thrown).
    func collectSave() throws {
        guard let writer, savePending else { return }
        savePending = false
        if let checkpoint = try writer.flush() {
            lastCheckpoint = checkpoint
            hooks.observe(.saved(checkpoint))
        }
    }

    /// Records and reports a background save that has finished, without
    /// waiting for one that has not (called at step boundaries).
    func collectFinishedSave() throws {
        guard let writer, savePending, !writer.isSaving else { return }
        try collectSave()
    }

    /// Waits until the writer is idle, so the store can be closed. Called on
    /// every way out of the loop; an error of the last background save that
    /// nothing else reported (training itself failed) is logged.
    func waitForSaves() {
        guard let writer else { return }
        do {
            try collectSave()
            try writer.flush()
        } catch {
            logger.error("The last background save failed: \(error)")
        }
    }
}
