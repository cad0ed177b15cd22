import Foundation
import Resumable
import Testing

/// One definition of best (issue 11, item 1): when two epochs tie on the
/// monitored metric, the earliest is best for the training summary, the
/// store, retention, `ls` and `status` alike, and nothing names a deleted checkpoint.
@Suite("Best tie rule")
struct BestTieTests {
    /// val_loss by epoch: epochs 2 and 4 tie on the best value.
    static let series: [Double] = [0.5, 0.3, 0.4, 0.3, 0.35, 0.6]

    static func hooks() -> TrainingHooks {
        var hooks = ToyTraining.hooks()
        hooks.evaluate = { state in
            let epoch = Int(state.progress.completedEpochs)  // epochs done before this one
            return ["val_loss": series[min(epoch, series.count - 1)]]
        }
        return hooks
    }

    @Test("a tie keeps the earliest best everywhere; retention keeps it; status names an existing checkpoint")
    func tieGoesToEarliest() throws {
        let run = TestSupport.temporaryDirectory("best-tie") + "/run"
        var options = ToyTraining.options(run)
        options.retention = RetentionPolicy(keepLast: 1)
        let result = try TrainingLoop(options: options, hooks: Self.hooks()).run(from: ToyTraining.initialState())
        let best = result.state.best
        #expect(best.epoch == 2, "the first epoch to reach 0.3 is best: \(best)")
        let bestStep = try #require(best.step)

        let store = try CheckpointStore(directory: run)
        let steps = try store.committedSteps()
        #expect(steps.contains(bestStep), "retention kept the training's best: \(steps)")
        #expect(try store.best()?.step == bestStep, "the store's best is the training's best")
        #expect(steps.count == 2, "latest and best only: \(steps)")
        let summary = try #require(TrainingSummary(json: try store.latest()?.checkpoint.manifest.extra["training"]))
        #expect(summary.bestStep == bestStep)

        // Retention ranks a tie the same way: keep-best 1 keeps the earliest.
        let checkpoints = try store.checkpoints()
        let reasons = RetentionPolicy(keepBest: 1).reasonsToKeep(
            checkpoints, protected: [], runMonitor: Monitor(metric: "val_loss", mode: .min))
        #expect(reasons[bestStep]?.contains("best 1 by val_loss") == true, "\(reasons)")

        // Through the binary: ls and status agree, and name a checkpoint that exists.
        let (ls, listing) = try CLIFixture.json("ls", run, "--json")
        #expect(ls.status == 0, "\(ls)")
        #expect(listing["best"]?.intValue == bestStep)
        let (outcome, status) = try CLIFixture.json("status", run, "--json")
        #expect(outcome.status == 0, "\(outcome)")
        #expect(status["checkpoints"]?["best"]?["step"]?.intValue == bestStep)
        #expect(status["training"]?["best_step"]?.intValue == bestStep)
        let named = try #require(status["training"]?["best_checkpoint"]?.stringValue)
        #expect(FileManager.default.fileExists(atPath: named + "/manifest.json"))
        let text = try TestSupport.resumable("status", run)
        #expect(text.stdout.contains("at epoch 2 (step \(bestStep))"), "\(text.stdout)")
        #expect(!text.stdout.contains("no checkpoint kept"), "\(text.stdout)")
    }

    @Test("the store's best of equal values is the earliest, in any input order")
    func storeTie() throws {
        let monitor = Monitor(metric: "m", mode: .max)
        let items: [(step: Int64, value: Double?)] = [(1, 0.5), (2, 0.9), (3, .nan), (4, 0.9), (5, nil)]
        #expect(monitor.best(of: items) { $0.value }?.step == 2)
        #expect(!monitor.isBetter(0.9, than: 0.9))
        #expect(monitor.ranksBefore((0.9, 2), (0.9, 4)) && !monitor.ranksBefore((0.9, 4), (0.9, 2)))
        var score = BestScore(monitor: monitor)
        let first = score.update(metrics: ["m": 0.9], epoch: 1, step: 10)
        let tie = score.update(metrics: ["m": 0.9], epoch: 2, step: 20)
        #expect(first && !tie)
        #expect(score.step == 10)
    }

    @Test("status says so when the training's best epoch has no checkpoint")
    func bestNotKept() throws {
        let run = TestSupport.temporaryDirectory("best-gone") + "/run"
        _ = try TrainingLoop(options: ToyTraining.options(run), hooks: Self.hooks()).run(from: ToyTraining.initialState())
        let store = try CheckpointStore(directory: run, access: .write)
        let summary = try #require(TrainingSummary(json: try store.latest()?.checkpoint.manifest.extra["training"]))
        let bestStep = try #require(summary.bestStep)
        try store.delete(step: bestStep)
        store.close()
        let text = try TestSupport.resumable("status", run)
        #expect(text.status == 0, "\(text)")
        #expect(text.stdout.contains("(step \(bestStep), no checkpoint kept)"), "\(text.stdout)")
        let (_, status) = try CLIFixture.json("status", run, "--json")
        #expect(status["training"]?["best_checkpoint"] == .null)
    }
}
