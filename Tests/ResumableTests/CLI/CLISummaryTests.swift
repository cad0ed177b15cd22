import Foundation
import Resumable
import Testing

/// Output that answers instead of drowning the answer (issue 11, item 7):
/// `inspect` and `diff` summarise a long training history unless `--full`,
/// `--json` stays whole, and one damaged checkpoint gives one warning.
@Suite("CLI summaries and warnings")
struct CLISummaryTests {
    /// A run whose checkpoints carry a `training` summary with `epochs` epochs of history each.
    static func historyRun(_ label: String, epochs: [Int] = [30, 31]) throws -> String {
        let directory = TestSupport.temporaryDirectory(label) + "/run"
        let store = try CheckpointStore(directory: directory, access: .write, create: true)
        try store.updateRun { $0.monitor = Monitor(metric: "val_loss", mode: .min) }
        for n in epochs {
            let step = Int64(n * 10)
            let history: [String: JSONValue] = [
                "epoch": .array((1...n).map { .int(Int64($0)) }),
                "val_loss": .array((1...n).map { .number(1 / Double($0 + 1)) }),
                "train_loss": .array((1...n).map { .number(2 / Double($0 + 1)) }),
            ]
            try store.commit(step: step) { draft in
                draft.epoch = Int64(n)
                draft.metrics = ["val_loss": 1 / Double(n + 1)]
                draft.extra["training"] = [
                    "completed_epochs": .int(Int64(n)), "total_epochs": 40, "step": .int(step), "epoch_step": 0,
                    "steps_per_epoch": 10, "monitor": "val_loss", "mode": "min", "best_score": .number(1 / Double(n + 1)),
                    "best_epoch": .int(Int64(n)), "best_step": .int(step), "finished": false, "finish_reason": .null,
                    "history": .object(history),
                ]
                try draft.writeTensors([TensorSource(name: "w", dtype: .f32, shape: [2], values: [1, Float(n)])])
                try draft.writeJSON(named: "state.json", ["step": .int(step)])
            }
        }
        store.close()
        return directory
    }

    static func lines(_ text: String) -> [Substring] { text.split(separator: "\n", omittingEmptySubsequences: false) }

    @Test("inspect summarises a 30-epoch history; --full shows every epoch; --json keeps it whole")
    func inspectHistory() throws {
        let run = try Self.historyRun("summary-inspect")
        let short = try TestSupport.resumable("inspect", run + "@step-300")
        #expect(short.status == 0, "\(short)")
        let shortLines = Self.lines(short.stdout)
        #expect(shortLines.count < 40, "\(short.stdout)")
        #expect(shortLines.allSatisfy { $0.count <= 160 }, "no line holds the whole history: \(short.stdout)")
        #expect(short.stdout.contains("History (30 epochs)"), "\(short.stdout)")
        #expect(short.stdout.contains("val_loss (min) 0.0322581 at epoch 30 (step 300)"), "\(short.stdout)")
        #expect(shortLines.contains { $0.trimmingCharacters(in: .whitespaces).hasPrefix("1 ") })
        #expect(shortLines.contains { $0.trimmingCharacters(in: .whitespaces).hasPrefix("30 ") })
        #expect(!shortLines.contains { $0.trimmingCharacters(in: .whitespaces).hasPrefix("15 ") })
        #expect(short.stdout.contains("--full"))

        let full = try TestSupport.resumable("inspect", run + "@step-300", "--full")
        #expect(full.status == 0, "\(full)")
        for epoch in 1...30 {
            #expect(Self.lines(full.stdout).contains { $0.trimmingCharacters(in: .whitespaces).hasPrefix("\(epoch) ") }, "epoch \(epoch)")
        }
        let (outcome, json) = try CLIFixture.json("inspect", run + "@step-300", "--json")
        #expect(outcome.status == 0)
        #expect(json["manifest"]?["training"]?["history"]?["val_loss"]?.arrayValue?.count == 30, "--json is data, whole")
    }

    @Test("diff summarises history arrays (lengths, first difference, last values); --full prints them whole")
    func diffHistory() throws {
        let run = try Self.historyRun("summary-diff")
        let short = try TestSupport.resumable("diff", run + "@step-300", run + "@step-310")
        #expect(short.status == 1, "\(short)")
        #expect(Self.lines(short.stdout).count < 40, "\(short.stdout)")
        #expect(Self.lines(short.stdout).allSatisfy { $0.count <= 200 }, "\(short.stdout)")
        #expect(
            short.stdout.contains("training.history.val_loss: 30 items -> 31 items; the first 30 equal; last 0.0322581 -> 0.03125"),
            "\(short.stdout)")
        let full = try TestSupport.resumable("diff", run + "@step-300", run + "@step-310", "--full")
        #expect(full.status == 1, "\(full)")
        #expect(full.stdout.contains("training.history.epoch: [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15"), "\(full.stdout)")
        let (_, json) = try CLIFixture.json("diff", run + "@step-300", run + "@step-310", "--json")
        let epochs = json["metadata"]?.arrayValue?.first { $0["key"]?.stringValue == "training.history.epoch" }
        #expect(epochs?["b"]?.arrayValue?.count == 31, "--json is whole")
    }

    /// The warning lines a command printed.
    static func warnings(_ outcome: TestSupport.Outcome) -> [Substring] {
        outcome.stderr.split(separator: "\n").filter { $0.contains("warning:") }
    }

    @Test("one damaged checkpoint gives exactly one warning for ls, status and inspect RUN")
    func oneWarning() throws {
        let run = try CLIFixture.makeRun("summary-warn")
        let damaged = CLIFixture.checkpoint(run, 400)
        try FileManager.default.createDirectory(atPath: damaged, withIntermediateDirectories: true)
        try Data("{not json".utf8).write(to: URL(fileURLWithPath: damaged + "/manifest.json"))
        for arguments in [["ls", run], ["status", run], ["inspect", run], ["inspect", run, "--json"]] {
            let outcome = try TestSupport.run(TestSupport.resumable, arguments)
            #expect(outcome.status == 0, "\(arguments): \(outcome)")
            let warnings = Self.warnings(outcome)
            #expect(warnings.count == 1, "\(arguments): \(outcome.stderr)")
            #expect(warnings.first?.contains("step-000000000400") == true, "\(arguments): \(outcome.stderr)")
        }
        // A flipped byte found by --verify: one warning too.
        let flipped = try CLIFixture.makeRun("summary-warn-verify")
        try CLIFixture.flipByte(run: flipped, step: 300)
        let verified = try TestSupport.resumable("inspect", flipped, "--verify")
        #expect(verified.status == 0, "\(verified)")
        #expect(Self.warnings(verified).count == 1, "\(verified.stderr)")
        #expect(verified.stderr.contains("step-000000000300 is corrupt") && verified.stderr.contains("falling back to step-000000000200"))
    }
}
