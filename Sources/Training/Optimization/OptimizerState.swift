/// Everything an optimizer carries between steps: its step count, its
/// hyperparameters and its per-parameter slots (Adam's first and second
/// moments, SGD's momentum buffer).
///
/// Slots are saved as tensors (`optimizer.safetensors`, named `SLOT.PARAM`);
/// the rest goes to `state.json`. Restoring all of it is what makes a resumed
/// optimizer take exactly the step the uninterrupted one would have taken.
public struct OptimizerState: Sendable, Hashable {
    /// The optimizer's name (`adam`, `sgd-momentum`).
    public var kind: String
    /// Updates applied so far (Adam's `t`, used for bias correction).
    public var stepCount: Int64
    /// Hyperparameters (`beta1`, `beta2`, `epsilon`, `momentum`, ...).
    public var hyperparameters: [String: Double]
    /// Per-parameter buffers by slot name, each shaped like the parameters.
    public var slots: [String: TensorSet]

    /// An optimizer state.
    public init(kind: String, stepCount: Int64 = 0, hyperparameters: [String: Double] = [:], slots: [String: TensorSet] = [:]) {
        self.kind = kind
        self.stepCount = stepCount
        self.hyperparameters = hyperparameters
        self.slots = slots
    }

    /// The part saved in `state.json` (slots go to a tensor file).
    struct Scalars: Codable, Sendable, Hashable {
        var kind: String
        var stepCount: Int64
        var hyperparameters: [String: Double]
        var slotNames: [String]
    }

    var scalars: Scalars {
        Scalars(kind: kind, stepCount: stepCount, hyperparameters: hyperparameters, slotNames: slots.keys.sorted())
    }
}
