import Foundation
import Resumable
import Testing

/// One test per piece of training state: it is changed from its fresh value,
/// saved, and restored into a fresh state; the test fails if the piece is
/// left out of the save or the restore.
@Suite("Training state restore")
struct TrainingStateRestoreTests {
    /// Saves `state` in a new run and restores it into a fresh toy state.
    func roundTrip(_ state: TrainingState) throws -> TrainingState {
        let run = TestSupport.temporaryDirectory("state")
        let store = try CheckpointStore(directory: run, access: .write, create: true)
        let checkpoint = try store.commit(step: state.progress.step) { try state.save(to: $0) }.checkpoint
        var fresh = ToyTraining.initialState()
        try fresh.restore(from: checkpoint)
        return fresh
    }

    func changed(_ change: (inout TrainingState) -> Void) throws -> (saved: TrainingState, restored: TrainingState) {
        var state = ToyTraining.initialState()
        change(&state)
        #expect(state != ToyTraining.initialState(), "the change must alter the state")
        let restored = try roundTrip(state)
        return (state, restored)
    }

    @Test func weights() throws {
        let (saved, restored) = try changed { $0.parameters.tensors[0].values = [1.5, -2.25, Float.pi] }
        #expect(restored.parameters == saved.parameters)
    }

    @Test func optimizerMoments() throws {
        let (saved, restored) = try changed {
            $0.optimizer.slots["m"]?.tensors[0].values = [0.1, 0.2, 0.3]
            $0.optimizer.slots["v"]?.tensors[1].values = [0.004]
        }
        #expect(restored.optimizer.slots == saved.optimizer.slots)
    }

    @Test func optimizerStepCount() throws {
        let (saved, restored) = try changed { $0.optimizer.stepCount = 123 }
        #expect(restored.optimizer.stepCount == 123)
        #expect(restored.optimizer == saved.optimizer)
    }

    @Test func schedule() throws {
        let (saved, restored) = try changed {
            $0.schedule = LearningRateSchedule(kind: .step, baseLearningRate: 0.3, decayEvery: 7, gamma: 0.5)
        }
        #expect(restored.schedule == saved.schedule)
        #expect(restored.learningRate == saved.learningRate)
    }

    @Test func randomGenerators() throws {
        let (saved, restored) = try changed { state in
            var g = state.generators["noise"] ?? Xoshiro256StarStar(seed: 0)
            for _ in 0..<17 { _ = g.next() }
            state.generators["noise"] = g
            state.generators["augment"] = Xoshiro256StarStar(seed: 99)
        }
        #expect(restored.generators == saved.generators)
        var a = restored.generators["noise"]
        var b = saved.generators["noise"]
        #expect(a?.next() == b?.next())
    }

    @Test func dataCursor() throws {
        let (saved, restored) = try changed { state in
            _ = state.cursor.nextBatch()
            _ = state.cursor.nextBatch()
        }
        #expect(restored.cursor == saved.cursor)
        #expect(restored.cursor.position == 6)
        var a = restored.cursor
        var b = saved.cursor
        #expect(a.nextBatch() == b.nextBatch())
    }

    @Test func earlyStoppingCounter() throws {
        let (saved, restored) = try changed { state in
            state.earlyStopping?.bestValue = 0.5
            state.earlyStopping?.epochsWithoutImprovement = 3
        }
        #expect(restored.earlyStopping?.epochsWithoutImprovement == 3)
        #expect(restored.earlyStopping == saved.earlyStopping)
    }

    @Test func metricHistory() throws {
        let (saved, restored) = try changed { state in
            state.history.append(EpochRecord(epoch: 1, step: 4, metrics: ["val_loss": 0.1 + 0.2, "train_loss": 1e-300]))
            state.history.append(EpochRecord(epoch: 2, step: 8, metrics: ["val_loss": .nan]))
        }
        #expect(restored.history.records.count == 2)
        #expect(restored.history.records[0] == saved.history.records[0])
        #expect(restored.history.records[1].metrics["val_loss"]?.isNaN == true)
    }

    @Test func bestScore() throws {
        let (saved, restored) = try changed { state in
            state.best.update(metrics: ["val_loss": 0.125], epoch: 3, step: 12)
        }
        #expect(restored.best == saved.best)
        #expect(restored.best.epoch == 3)
    }

    @Test func progressAndScalars() throws {
        let (saved, restored) = try changed { state in
            state.progress.step = 9
            state.progress.completedEpochs = 2
            state.progress.epochMeans["train_loss"] = {
                var mean = RunningMean()
                mean.add(1.5)
                mean.add(0.25)
                return mean
            }()
            state.scalars["examples_seen"] = 27
        }
        #expect(restored.progress == saved.progress)
        #expect(restored.scalars == saved.scalars)
    }

    @Test("a checkpoint of another model is refused, naming the tensor")
    func otherModel() throws {
        var state = ToyTraining.initialState()
        state.parameters["w"] = Tensor(shape: [5])
        let run = TestSupport.temporaryDirectory("state")
        let store = try CheckpointStore(directory: run, access: .write, create: true)
        let checkpoint = try store.commit(step: 0) { try state.save(to: $0) }.checkpoint
        var fresh = ToyTraining.initialState()
        let error = #expect(throws: ResumableError.self) { try fresh.restore(from: checkpoint) }
        #expect(error?.code == .corrupt)
        #expect(error?.message.contains("\"w\"") == true)
    }

    @Test("the manifest carries the training summary")
    func summary() throws {
        var state = ToyTraining.initialState()
        state.progress.completedEpochs = 2
        state.best.update(metrics: ["val_loss": 0.25], epoch: 2, step: 8)
        state.history.append(EpochRecord(epoch: 2, step: 8, metrics: ["val_loss": 0.25]))
        let run = TestSupport.temporaryDirectory("state")
        let store = try CheckpointStore(directory: run, access: .write, create: true)
        let checkpoint = try store.commit(step: 8) { try state.save(to: $0) }.checkpoint
        let reread = try store.checkpoint(step: checkpoint.step)
        let summary = try #require(TrainingSummary(json: reread.manifest.extra["training"]))
        #expect(summary.completedEpochs == 2)
        #expect(summary.totalEpochs == 6)
        #expect(summary.bestEpoch == 2)
        #expect(summary.bestScore == 0.25)
        #expect(summary.history["val_loss"] == [0.25])
        #expect(reread.manifest.epoch == 2)
    }
}

@Suite("Training building blocks")
struct TrainingBuildingBlockTests {
    @Test("the generator's sequence is fixed by its seed and its state survives JSON")
    func generator() throws {
        var g = Xoshiro256StarStar(seed: 42)
        let first = (0..<3).map { _ in g.next() }
        var h = Xoshiro256StarStar(seed: 42)
        #expect((0..<3).map { _ in h.next() } == first)
        let data = try JSONEncoder().encode(g)
        var decoded = try JSONDecoder().decode(Xoshiro256StarStar.self, from: data)
        #expect(decoded.next() == g.next())
        #expect(Xoshiro256StarStar(seed: 1) != Xoshiro256StarStar(seed: 2))
    }

    @Test("an epoch visits every example once, whatever the batch size")
    func cursorCoversEpoch() {
        for batch in [1, 3, 4, 10, 11] {
            var cursor = DataCursor(exampleCount: 10, batchSize: batch, seed: 5)
            var seen: [Int] = []
            while let b = cursor.nextBatch() { seen += b }
            #expect(seen.sorted() == Array(0..<10))
            #expect(cursor.isAtEndOfEpoch)
            cursor.beginNextEpoch()
            #expect(cursor.nextBatch() != nil)
        }
    }

    @Test("the config fingerprint ignores key order and names differing keys")
    func config() {
        let a = TrainingConfig(["lr": 0.1, "seed": 1])
        let b = TrainingConfig(["seed": 1, "lr": 0.1])
        #expect(a.fingerprint == b.fingerprint)
        let c = TrainingConfig(["seed": 2, "lr": 0.1, "hidden": 8])
        #expect(c.differences(from: a.values).map(\.key) == ["hidden", "seed"])
        #expect(c.fingerprint != a.fingerprint)
    }

    @Test("schedules: cosine ends at its minimum, step decays")
    func schedules() {
        let cosine = LearningRateSchedule.cosine(base: 1, minimum: 0.1, totalSteps: 10)
        #expect(cosine.learningRate(atStep: 0) == 1)
        #expect(abs(cosine.learningRate(atStep: 10) - 0.1) < 1e-12)
        let step = LearningRateSchedule(kind: .step, baseLearningRate: 1, decayEvery: 5, gamma: 0.5)
        #expect(step.learningRate(atStep: 4) == 1)
        #expect(step.learningRate(atStep: 5) == 0.5)
    }

    @Test("early stopping fires after patience epochs without improvement")
    func earlyStopping() {
        var stopper = EarlyStopping(metric: "val_loss", mode: .min, patience: 2)
        let first = stopper.update(metrics: ["val_loss": 1], completedEpochs: 1)
        let second = stopper.update(metrics: ["val_loss": 1.5], completedEpochs: 2)
        let third = stopper.update(metrics: ["val_loss": 1.2], completedEpochs: 3)
        #expect(!first && !second && third)
        #expect(stopper.stoppedAtEpoch == 3)
    }
}
