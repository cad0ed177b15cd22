import Glibc

/// Adam (Kingma and Ba), with bias correction, over `TensorSet`s.
///
/// Its state lives in an `OptimizerState` (slots `m` and `v`, the step count
/// and the hyperparameters) so it is saved and restored with the rest of the
/// training state.
public enum Adam {
    /// A fresh Adam state for `parameters`: zero moments, step count 0.
    public static func makeState(
        for parameters: TensorSet, beta1: Double = 0.9, beta2: Double = 0.999, epsilon: Double = 1e-8
    ) -> OptimizerState {
        OptimizerState(
            kind: "adam", stepCount: 0,
            hyperparameters: ["beta1": beta1, "beta2": beta2, "epsilon": epsilon],
            slots: ["m": parameters.zerosLike(), "v": parameters.zerosLike()])
    }

    /// Applies one update: `parameters -= lr · m̂ / (√v̂ + ε)`.
    ///
    /// It is a programmer error for `gradients` or the state's slots not to
    /// have the shapes of `parameters`.
    public static func update(
        _ parameters: inout TensorSet, gradients: TensorSet, state: inout OptimizerState, learningRate: Double
    ) {
        let beta1 = state.hyperparameters["beta1"] ?? 0.9
        let beta2 = state.hyperparameters["beta2"] ?? 0.999
        let epsilon = Float(state.hyperparameters["epsilon"] ?? 1e-8)
        state.stepCount += 1
        let t = Double(state.stepCount)
        let stepSize = Float(learningRate * (1 - pow(beta2, t)).squareRoot() / (1 - pow(beta1, t)))
        let b1 = Float(beta1)
        let b2 = Float(beta2)
        var m = state.slots["m"] ?? parameters.zerosLike()
        var v = state.slots["v"] ?? parameters.zerosLike()
        state.slots["m"] = nil  // release the slots so updating them in place does not copy
        state.slots["v"] = nil
        for i in 0..<parameters.tensors.count {
            gradients.tensors[i].values.withUnsafeBufferPointer { g in
                parameters.tensors[i].values.withUnsafeMutableBufferPointer { p in
                    m.tensors[i].values.withUnsafeMutableBufferPointer { mb in
                        v.tensors[i].values.withUnsafeMutableBufferPointer { vb in
                            for k in 0..<p.count {
                                let gk = g[k]
                                mb[k] = b1 * mb[k] + (1 - b1) * gk
                                vb[k] = b2 * vb[k] + (1 - b2) * gk * gk
                                p[k] -= stepSize * mb[k] / (vb[k].squareRoot() + epsilon)
                            }
                        }
                    }
                }
            }
        }
        state.slots["m"] = m
        state.slots["v"] = v
    }
}
