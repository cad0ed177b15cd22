import Foundation
import Resumable

/// A tiny training job (linear regression with noise and shuffling) that
/// uses every piece of `TrainingState`, for in-process loop tests.
enum ToyTraining {
    static let exampleCount = 10
    static let features = 3

    /// Inputs and targets, fixed.
    static let inputs: [Float] = (0..<(exampleCount * features)).map { Float(($0 * 7) % 11) / 11 }
    static let targets: [Float] = (0..<exampleCount).map { i in
        (0..<features).reduce(Float(0)) { $0 + inputs[i * features + $1] * Float($1 + 1) }
    }

    static func initialState(epochs: Int64 = 6, lr: Double = 0.05, seed: UInt64 = 1) -> TrainingState {
        let parameters = TensorSet([
            ("w", Tensor(shape: [features], values: [0.1, -0.2, 0.3])), ("b", Tensor(shape: [1], values: [0])),
        ])
        let cursor = DataCursor(exampleCount: exampleCount, batchSize: 3, seed: seed)
        return TrainingState(
            parameters: parameters, optimizer: Adam.makeState(for: parameters),
            schedule: .cosine(base: lr, totalSteps: epochs * Int64(cursor.batchesPerEpoch)),
            progress: TrainingProgress(totalEpochs: epochs), generators: ["noise": Xoshiro256StarStar(seed: seed + 1)],
            cursor: cursor, earlyStopping: EarlyStopping(metric: "val_loss", mode: .min, patience: 100),
            best: BestScore(monitor: Monitor(metric: "val_loss", mode: .min)))
    }

    static func loss(_ p: TensorSet, rows: [Int]) -> (Double, TensorSet) {
        var gw = [Float](repeating: 0, count: features)
        var gb: Float = 0
        var total = 0.0
        let w = p["w"]?.values ?? []
        let b = p["b"]?.values.first ?? 0
        for r in rows {
            var y = b
            for k in 0..<features { y += w[k] * inputs[r * features + k] }
            let e = y - targets[r]
            total += Double(e * e)
            for k in 0..<features { gw[k] += 2 * e * inputs[r * features + k] / Float(rows.count) }
            gb += 2 * e / Float(rows.count)
        }
        return (total / Double(rows.count), TensorSet([("w", Tensor(shape: [features], values: gw)), ("b", Tensor(shape: [1], values: [gb]))]))
    }

    /// Hooks; `interruptAtStep` requests a stop (as a signal would) after that step.
    static func hooks(interruptAtStep: Int64? = nil, lr: Double = 0.05) -> TrainingHooks {
        TrainingHooks(
            trainStep: { state, batch in
                var (l, g) = loss(state.parameters, rows: Array(batch))
                var noise = state.generators["noise"] ?? Xoshiro256StarStar(seed: 0)
                for i in 0..<g.tensors.count {
                    for k in 0..<g.tensors[i].count { g.tensors[i].values[k] += Float(noise.nextGaussian() * 0.01) }
                }
                state.generators["noise"] = noise
                Adam.update(&state.parameters, gradients: g, state: &state.optimizer, learningRate: state.learningRate)
                state.scalars["examples_seen", default: 0] += Double(batch.count)
                if let interruptAtStep, state.progress.step + 1 == interruptAtStep { InterruptFlag.request() }
                return ["train_loss": l]
            },
            evaluate: { state in ["val_loss": loss(state.parameters, rows: Array(0..<exampleCount)).0] },
            reconfigure: { state, _ in state.schedule.baseLearningRate = lr })
    }

    static func options(_ run: String, resume: ResumeMode = .auto, config: [String: JSONValue] = ["seed": 1, "lr": 0.05, "epochs": 6], everySteps: Int64? = nil) -> TrainingOptions {
        TrainingOptions(
            runDirectory: run, resume: resume, config: TrainingConfig(config, changeableKeys: ["lr", "epochs"]),
            saveTriggers: SaveTriggers(everySteps: everySteps, everyEpochs: 1))
    }
}
