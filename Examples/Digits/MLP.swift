import Resumable

/// A two-layer perceptron (64 → hidden, ReLU, dropout → 10, softmax) in plain
/// Swift over contiguous `Float` arrays. Parameters follow PyTorch's layout:
/// `fc1.weight` is `[hidden, 64]`.
struct MLP {
    let inputs: Int
    let hidden: Int
    let classes: Int
    /// Position of each parameter in the `TensorSet`.
    static let names = ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]

    /// Freshly initialised parameters (He-normal weights, zero biases).
    func initialParameters(seed: UInt64) -> TensorSet {
        var generator = Xoshiro256StarStar(seed: seed ^ 0x1417_1A11)
        func normal(_ shape: [Int], fanIn: Int) -> Tensor {
            let scale = (2 / Double(fanIn)).squareRoot()
            var t = Tensor(shape: shape)
            for i in 0..<t.count { t.values[i] = Float(generator.nextGaussian() * scale) }
            return t
        }
        return TensorSet([
            ("fc1.weight", normal([hidden, inputs], fanIn: inputs)), ("fc1.bias", Tensor(shape: [hidden])),
            ("fc2.weight", normal([classes, hidden], fanIn: hidden)), ("fc2.bias", Tensor(shape: [classes])),
        ])
    }

    /// Logits for a batch, and the hidden activations (after ReLU and dropout).
    /// - Parameter mask: per hidden unit of each example: 0 (dropped) or the keep scale.
    func forward(
        _ p: TensorSet, features: UnsafeBufferPointer<Float>, rows: [Int], mask: [Float]?
    ) -> (logits: [Float], hiddenOut: [Float]) {
        let b = rows.count
        var h = [Float](repeating: 0, count: b * hidden)
        var logits = [Float](repeating: 0, count: b * classes)
        p.tensors[0].values.withUnsafeBufferPointer { w1 in
            p.tensors[1].values.withUnsafeBufferPointer { b1 in
                h.withUnsafeMutableBufferPointer { h in
                    for (r, row) in rows.enumerated() {
                        let x = features.baseAddress! + row * inputs
                        for j in 0..<hidden {
                            var s = b1[j]
                            let w = w1.baseAddress! + j * inputs
                            for k in 0..<inputs { s += w[k] * x[k] }
                            var v = s > 0 ? s : 0
                            if let mask { v *= mask[r * hidden + j] }
                            h[r * hidden + j] = v
                        }
                    }
                }
            }
        }
        p.tensors[2].values.withUnsafeBufferPointer { w2 in
            p.tensors[3].values.withUnsafeBufferPointer { b2 in
                h.withUnsafeBufferPointer { h in
                    logits.withUnsafeMutableBufferPointer { out in
                        for r in 0..<b {
                            for c in 0..<classes {
                                var s = b2[c]
                                let w = w2.baseAddress! + c * hidden
                                let hr = h.baseAddress! + r * hidden
                                for j in 0..<hidden { s += w[j] * hr[j] }
                                out[r * classes + c] = s
                            }
                        }
                    }
                }
            }
        }
        return (logits, h)
    }

    /// Softmax in place per row; returns the summed cross-entropy and the number correct.
    func softmax(_ logits: inout [Float], labels: [Int]) -> (loss: Double, correct: Int) {
        var loss = 0.0
        var correct = 0
        for r in 0..<labels.count {
            let base = r * classes
            var maxValue = logits[base]
            var argmax = 0
            for c in 1..<classes where logits[base + c] > maxValue {
                maxValue = logits[base + c]
                argmax = c
            }
            var sum: Float = 0
            for c in 0..<classes {
                let e = expf(logits[base + c] - maxValue)
                logits[base + c] = e
                sum += e
            }
            for c in 0..<classes { logits[base + c] /= sum }
            loss -= Double(logf(max(logits[base + labels[r]], 1e-12)))
            if argmax == labels[r] { correct += 1 }
        }
        return (loss, correct)
    }

    /// One batch's mean loss and the gradients of every parameter.
    func lossAndGradients(
        _ p: TensorSet, features: UnsafeBufferPointer<Float>, rows: [Int], labels: [Int], mask: [Float]?
    ) -> (loss: Double, gradients: TensorSet) {
        let b = rows.count
        var (probabilities, h) = forward(p, features: features, rows: rows, mask: mask)
        let (loss, _) = softmax(&probabilities, labels: labels)
        var gradW1 = [Float](repeating: 0, count: hidden * inputs)
        var gradB1 = [Float](repeating: 0, count: hidden)
        var gradW2 = [Float](repeating: 0, count: classes * hidden)
        var gradB2 = [Float](repeating: 0, count: classes)
        // dLogits = (softmax - onehot) / b
        let inv = 1 / Float(b)
        for r in 0..<b {
            probabilities[r * classes + labels[r]] -= 1
            for c in 0..<classes { probabilities[r * classes + c] *= inv }
        }
        var dh = [Float](repeating: 0, count: b * hidden)
        p.tensors[2].values.withUnsafeBufferPointer { w2 in
            gradW2.withUnsafeMutableBufferPointer { gw2 in
                gradB2.withUnsafeMutableBufferPointer { gb2 in
                    h.withUnsafeBufferPointer { h in
                        for r in 0..<b {
                            let hr = h.baseAddress! + r * hidden
                            for c in 0..<classes {
                                let d = probabilities[r * classes + c]
                                gb2[c] += d
                                let gw = gw2.baseAddress! + c * hidden
                                let w = w2.baseAddress! + c * hidden
                                for j in 0..<hidden {
                                    gw[j] += d * hr[j]
                                    dh[r * hidden + j] += d * w[j]
                                }
                            }
                        }
                    }
                }
            }
        }
        // Through dropout and ReLU: h > 0 exactly where the unit was active and kept.
        for i in 0..<(b * hidden) {
            if h[i] > 0 { dh[i] *= mask?[i] ?? 1 } else { dh[i] = 0 }
        }
        gradW1.withUnsafeMutableBufferPointer { gw1 in
            gradB1.withUnsafeMutableBufferPointer { gb1 in
                for (r, row) in rows.enumerated() {
                    let x = features.baseAddress! + row * inputs
                    for j in 0..<hidden {
                        let d = dh[r * hidden + j]
                        if d == 0 { continue }
                        gb1[j] += d
                        let gw = gw1.baseAddress! + j * inputs
                        for k in 0..<inputs { gw[k] += d * x[k] }
                    }
                }
            }
        }
        let g = TensorSet([
            ("fc1.weight", Tensor(shape: [hidden, inputs], values: gradW1)), ("fc1.bias", Tensor(shape: [hidden], values: gradB1)),
            ("fc2.weight", Tensor(shape: [classes, hidden], values: gradW2)), ("fc2.bias", Tensor(shape: [classes], values: gradB2)),
        ])
        return (loss / Double(b), g)
    }

    /// Mean loss and accuracy over a whole set, in fixed-size chunks.
    func evaluate(_ p: TensorSet, features: [Float], labels: [Int]) -> (loss: Double, accuracy: Double) {
        var loss = 0.0
        var correct = 0
        features.withUnsafeBufferPointer { x in
            var start = 0
            while start < labels.count {
                let rows = Array(start..<min(start + 256, labels.count))
                var (logits, _) = forward(p, features: x, rows: rows, mask: nil)
                let (l, c) = softmax(&logits, labels: rows.map { labels[$0] })
                loss += l
                correct += c
                start += 256
            }
        }
        return (loss / Double(labels.count), Double(correct) / Double(labels.count))
    }
}

import Glibc
