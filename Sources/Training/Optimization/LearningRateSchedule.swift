import Glibc

/// A learning rate as a function of the global step: constant, cosine
/// annealing or step decay, with optional linear warm-up.
///
/// It is part of the saved training state, so a resumed run follows the
/// schedule it started with (and a run resumed with a new base rate, when the
/// run declares `lr` changeable, follows the new one from where it is).
public struct LearningRateSchedule: Sendable, Hashable, Codable {
    /// The shape of the schedule.
    public enum Kind: String, Sendable, Hashable, Codable, CaseIterable {
        /// `baseLearningRate` throughout.
        case constant
        /// Cosine annealing from `baseLearningRate` to `minimumLearningRate` over `totalSteps`.
        case cosine
        /// Multiplied by `gamma` every `decayEvery` steps.
        case step
    }

    /// The shape of the schedule.
    public var kind: Kind
    /// The rate after warm-up.
    public var baseLearningRate: Double
    /// The floor of cosine annealing.
    public var minimumLearningRate: Double
    /// Steps of linear warm-up from 0 (0 for none).
    public var warmupSteps: Int64
    /// The length of cosine annealing, warm-up included.
    public var totalSteps: Int64
    /// Step decay's period.
    public var decayEvery: Int64
    /// Step decay's factor.
    public var gamma: Double

    /// A schedule; unused parameters of other kinds keep their defaults.
    public init(
        kind: Kind, baseLearningRate: Double, minimumLearningRate: Double = 0, warmupSteps: Int64 = 0,
        totalSteps: Int64 = 0, decayEvery: Int64 = 1, gamma: Double = 1
    ) {
        self.kind = kind
        self.baseLearningRate = baseLearningRate
        self.minimumLearningRate = minimumLearningRate
        self.warmupSteps = warmupSteps
        self.totalSteps = totalSteps
        self.decayEvery = decayEvery
        self.gamma = gamma
    }

    /// A constant rate.
    public static func constant(_ rate: Double) -> LearningRateSchedule {
        LearningRateSchedule(kind: .constant, baseLearningRate: rate)
    }

    /// Cosine annealing over `totalSteps`.
    public static func cosine(
        base: Double, minimum: Double = 0, totalSteps: Int64, warmupSteps: Int64 = 0
    ) -> LearningRateSchedule {
        LearningRateSchedule(
            kind: .cosine, baseLearningRate: base, minimumLearningRate: minimum, warmupSteps: warmupSteps,
            totalSteps: totalSteps)
    }

    /// The rate for the update that follows `step` completed steps.
    public func learningRate(atStep step: Int64) -> Double {
        if warmupSteps > 0 && step < warmupSteps {
            return baseLearningRate * Double(step + 1) / Double(warmupSteps)
        }
        switch kind {
        case .constant:
            return baseLearningRate
        case .cosine:
            let span = max(1, totalSteps - warmupSteps)
            let progress = min(1, Double(step - warmupSteps) / Double(span))
            return minimumLearningRate + (baseLearningRate - minimumLearningRate) * 0.5 * (1 + cos(Double.pi * progress))
        case .step:
            let periods = decayEvery > 0 ? (step - warmupSteps) / decayEvery : 0
            return baseLearningRate * pow(gamma, Double(periods))
        }
    }
}
