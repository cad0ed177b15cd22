/// The memory traffic of one training step of the benchmark's model, for one
/// token: the least work a real step does, so the least time a background
/// save has to hide behind.
///
/// - forward and backward: every weight read three times (y = Wx, dx = Wᵀdy,
///   and the weight gradient dy·xᵀ), nothing in the state written;
/// - optimizer: Adam reads each weight's gradient and rewrites the weight and
///   both moments (every byte of the state is written).
///
/// A real step over a batch of tokens does far more arithmetic per byte, so it
/// runs longer and hides a background copy better than this.
extension TrainingState {
    /// The weights (the first third of the tensors with Adam, all without).
    private var weightCount: Int { layout.adam ? (tensors.count - 1) / 3 : tensors.count }

    /// Reads every weight three times; returns a sum so the reads happen.
    func forwardBackward() -> Float {
        var total: Float = 0
        for _ in 0..<3 {
            for t in tensors.prefix(weightCount) { total += Self.sum(UnsafeRawBufferPointer(t.bytes)) }
        }
        return total
    }

    /// One Adam update of every weight and its moments, with the gradient
    /// taken as 10⁻³ × the weight.
    func optimizerStep() {
        let n = weightCount
        for i in 0..<n {
            let p = tensors[i].bytes
            guard layout.adam else {
                Self.update(p) { w in w - 1e-7 * w }
                continue
            }
            let m = tensors[n + i].bytes, v = tensors[2 * n + i].bytes
            Self.adam(p, m, v)
        }
        if layout.adam, let step = tensors.last?.bytes {
            step.storeBytes(of: step.load(as: Float.self) + 1, as: Float.self)
        }
    }

    private typealias Vector = SIMD16<Float>

    private static func sum(_ bytes: UnsafeRawBufferPointer) -> Float {
        let vectors = bytes.count / MemoryLayout<Vector>.stride
        var acc = Vector()
        let v = bytes.baseAddress!.assumingMemoryBound(to: Vector.self)
        for j in 0..<vectors { acc += v[j] }
        var total = acc.sum()
        let f = bytes.bindMemory(to: Float.self)
        for j in (vectors * 16)..<f.count { total += f[j] }
        return total
    }

    private static func update(_ bytes: UnsafeMutableRawBufferPointer, _ body: (Vector) -> Vector) {
        let vectors = bytes.count / MemoryLayout<Vector>.stride
        let v = bytes.baseAddress!.assumingMemoryBound(to: Vector.self)
        for j in 0..<vectors { v[j] = body(v[j]) }
    }

    private static func adam(_ p: UnsafeMutableRawBufferPointer, _ m: UnsafeMutableRawBufferPointer, _ v: UnsafeMutableRawBufferPointer) {
        let vectors = p.count / MemoryLayout<Vector>.stride
        let pv = p.baseAddress!.assumingMemoryBound(to: Vector.self)
        let mv = m.baseAddress!.assumingMemoryBound(to: Vector.self)
        let vv = v.baseAddress!.assumingMemoryBound(to: Vector.self)
        let (b1, b2, lr, eps): (Float, Float, Float, Float) = (0.9, 0.999, 1e-4, 1e-8)
        for j in 0..<vectors {
            let g = pv[j] * 1e-3
            let m1 = b1 * mv[j] + (1 - b1) * g
            let v1 = b2 * vv[j] + (1 - b2) * g * g
            mv[j] = m1
            vv[j] = v1
            // The state starts with moments in [-1, 1): take |v| so nothing turns into NaN.
            pv[j] = pv[j] - lr * m1 / (v1.replacing(with: -v1, where: v1 .< 0).squareRoot() + eps)
        }
        // Tensors here hold a multiple of 16 floats, except the step counter (not a weight).
    }
}
