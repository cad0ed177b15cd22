import Foundation
import Resumable

/// Shows training progress on stderr. On a terminal: one line rewritten in
/// place while an epoch runs, and a line per epoch. Piped (a Slurm or CI
/// log): no live line, but the start line and one plain line per epoch as it
/// ends, written at once (stderr is unbuffered), so a log shows progress
/// while training runs. With `trace`, prints machine-readable events on
/// stdout (`step N`, `save-begin N`, `save-end N`), one per line, unbuffered.
final class ProgressDisplay: @unchecked Sendable {
    let isTerminal = isatty(STDERR_FILENO) == 1
    let trace: Bool
    private var lineOpen = false

    init(trace: Bool) { self.trace = trace }

    /// Erases the live line first on a terminal; nothing to erase in a log.
    private var clear: String { isTerminal ? "\r\u{1B}[K" : "" }

    func show(_ event: TrainingEvent) {
        if trace { emitTrace(event) }
        switch event {
        case .started(let from, let state):
            let what = from.map { "Resuming at step \($0.step)" } ?? "Starting"
            write("\(what): epoch \(state.progress.completedEpochs) of \(state.progress.totalEpochs)\n")
        case .stepFinished(let step, let epoch, let batch, let batches, let metrics):
            guard isTerminal else { return }
            let width = 24
            let filled = batches > 0 ? width * batch / batches : 0
            let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
            let loss = metrics["train_loss"].map { String(format: "%.4f", $0) } ?? "-"
            write("\r\u{1B}[Kepoch \(epoch + 1) [\(bar)] \(batch)/\(batches) step \(step) loss \(loss)")
            lineOpen = true
        case .epochFinished(let record, let improved):
            write(clear + Self.epochLine(record, improved: improved))
            lineOpen = false
        case .saving, .saved:
            break
        case .interrupted(let signal):
            write(clear + "\(SignalName.name(of: signal)) received: saving and stopping\n")
            lineOpen = false
        }
    }

    /// `epoch   3  step 69  train_loss 0.4123  val_loss 0.3012  val_accuracy 91.20 %  *` (`*`: a new best).
    static func epochLine(_ record: EpochRecord, improved: Bool) -> String {
        let m = record.metrics
        return String(
            format: "epoch %3lld  step %lld  train_loss %.4f  val_loss %.4f  val_accuracy %.2f %%%@\n", record.epoch,
            record.step, m["train_loss"] ?? .nan, m["val_loss"] ?? .nan, (m["val_accuracy"] ?? .nan) * 100,
            improved ? "  * best" : "")
    }

    func finish() {
        if isTerminal && lineOpen { write("\r\u{1B}[K") }
    }

    private func emitTrace(_ event: TrainingEvent) {
        let line: String
        switch event {
        case .started(let from, _): line = "start \(from?.step ?? 0)"
        case .stepFinished(let step, _, _, _, _): line = "step \(step)"
        case .saving(let step, _): line = "save-begin \(step)"
        case .saved(let checkpoint): line = "save-end \(checkpoint.step)"
        case .epochFinished(let record, _): line = "epoch \(record.epoch)"
        case .interrupted: line = "interrupted"
        }
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    private func write(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}
