import Foundation
import Resumable
import Testing

/// Progress in a log (issue 11, item 6): piped, as under Slurm or CI, the
/// `digits` example prints a start line and one plain line per epoch (no
/// terminal escapes), each once and in order.
@Suite("Digits progress when piped")
struct DigitsProgressTests {
    @Test("two epochs piped: a start line, then epoch 1 and epoch 2 once each, in order, no escapes")
    func pipedEpochLines() throws {
        let run = TestSupport.temporaryDirectory("digits-progress") + "/run"
        let outcome = try TestSupport.run(
            TestSupport.executable("digits"),
            ["--run-dir", run, "--epochs", "2", "--hidden", "24", "--batch-size", "64"])
        #expect(outcome.status == 0, "\(outcome)")
        let lines = outcome.stderr.split(separator: "\n").map(String.init)
        #expect(!outcome.stderr.contains("\u{1B}"), "no terminal escapes in a log: \(outcome.stderr)")
        #expect(lines.contains { $0.hasPrefix("Starting: epoch 0 of 2") }, "\(outcome.stderr)")
        let epochLines = lines.filter { $0.hasPrefix("epoch ") }
        #expect(epochLines.count == 2, "\(outcome.stderr)")
        #expect(epochLines.first?.hasPrefix("epoch   1  step ") == true, "\(epochLines)")
        #expect(epochLines.last?.hasPrefix("epoch   2  step ") == true, "\(epochLines)")
        #expect(epochLines.allSatisfy { $0.contains("train_loss") && $0.contains("val_accuracy") })
        #expect(epochLines.first?.hasSuffix("* best") == true, "the first epoch is a new best: \(epochLines)")
        #expect(outcome.stdout.contains("Finished all epochs"), "the report stays on stdout: \(outcome.stdout)")

        // Resumed (a larger --epochs), the log says where it resumed and goes on from epoch 3.
        let more = try TestSupport.run(
            TestSupport.executable("digits"),
            ["--run-dir", run, "--epochs", "3", "--hidden", "24", "--batch-size", "64"])
        #expect(more.status == 0, "\(more)")
        let resumed = more.stderr.split(separator: "\n").map(String.init)
        #expect(resumed.contains { $0.hasPrefix("Resuming at step ") && $0.hasSuffix("epoch 2 of 3") }, "\(more.stderr)")
        #expect(resumed.filter { $0.hasPrefix("epoch ") }.map { $0.prefix(9) } == ["epoch   3"], "\(more.stderr)")
    }
}
