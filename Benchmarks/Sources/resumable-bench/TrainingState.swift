#if canImport(Glibc)
import Glibc
#endif
import Resumable

/// One tensor of the benchmark state: its name, shape and page-aligned bytes.
struct BenchTensor: @unchecked Sendable {
    var name: String
    var shape: [Int]
    var bytes: UnsafeMutableRawBufferPointer
    var index: Int
}

/// The layout of a GPT-2-small-like training state: token and position
/// embeddings, 12 blocks of attention and MLP weights and biases, layer norms,
/// and, with `adam`, the two Adam moments of every weight (and a step counter).
///
/// d_model=768 gives 124 M parameters, 148 tensors, 0.50 GB (1.49 GB with
/// Adam, 445 tensors). Every tensor is float32.
struct StateLayout: Sendable {
    var dModel: Int
    var adam: Bool
    var vocabulary = 50257
    var positions = 1024
    var layers = 12

    /// Tensor names and shapes, in the order they are written.
    var tensors: [(name: String, shape: [Int])] {
        let d = dModel
        var weights: [(String, [Int])] = [("wte", [vocabulary, d]), ("wpe", [positions, d])]
        for i in 0..<layers {
            let p = "h.\(i)."
            weights += [
                (p + "ln_1.weight", [d]), (p + "ln_1.bias", [d]),
                (p + "attn.c_attn.weight", [d, 3 * d]), (p + "attn.c_attn.bias", [3 * d]),
                (p + "attn.c_proj.weight", [d, d]), (p + "attn.c_proj.bias", [d]),
                (p + "ln_2.weight", [d]), (p + "ln_2.bias", [d]),
                (p + "mlp.c_fc.weight", [d, 4 * d]), (p + "mlp.c_fc.bias", [4 * d]),
                (p + "mlp.c_proj.weight", [4 * d, d]), (p + "mlp.c_proj.bias", [d]),
            ]
        }
        weights += [("ln_f.weight", [d]), ("ln_f.bias", [d])]
        guard adam else { return weights }
        var all = weights.map { ("model." + $0.0, $0.1) }
        all += weights.map { ("adam.exp_avg." + $0.0, $0.1) }
        all += weights.map { ("adam.exp_avg_sq." + $0.0, $0.1) }
        all.append(("adam.step", [2]))
        return all
    }

    /// Payload bytes (float32).
    var bytes: Int { tensors.reduce(0) { $0 + $1.shape.reduce(1, *) * 4 } }

    /// The label used in reports: `d768+adam`.
    var label: String { "d\(dModel)\(adam ? "+adam" : "")" }
}

/// Deterministic pseudo-random contents shared with peers.py: word j of tensor
/// t is splitmix64(seed_t + (j+1)·γ); each 64-bit word gives two float32
/// values (low half first) `(u32 >> 8) · 2⁻²³ − 1`, uniform in [-1, 1).
/// Nothing compresses, and both languages produce the same bytes.
enum StateContents {
    static let gamma: UInt64 = 0x9E37_79B9_7F4A_7C15

    static func seed(ofTensor t: Int) -> UInt64 { UInt64(t + 1) &* 0xD1B5_4A32_D192_ED03 }

    @inline(__always)
    static func mix(_ x: UInt64) -> UInt64 {
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    @inline(__always)
    static func float(_ u: UInt32) -> Float { Float(u >> 8) * 0x1p-23 - 1 }

    /// Fills `buffer` (whose first float is element `firstElement`, even) of tensor `t`.
    static func fill(_ buffer: UnsafeMutableRawBufferPointer, tensor t: Int, firstElement: Int) {
        let floats = buffer.bindMemory(to: Float.self)
        let seed = seed(ofTensor: t)
        var j = firstElement / 2
        var i = 0
        while i < floats.count {
            let w = mix(seed &+ UInt64(j + 1) &* gamma)
            floats[i] = float(UInt32(truncatingIfNeeded: w))
            if i + 1 < floats.count { floats[i + 1] = float(UInt32(truncatingIfNeeded: w >> 32)) }
            i += 2
            j += 1
        }
    }

    /// Whether `bytes` hold exactly tensor `t`'s contents.
    static func matches(_ bytes: UnsafeRawBufferPointer, tensor t: Int) -> Bool {
        let chunk = 1 << 20
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 64)
        defer { scratch.deallocate() }
        var start = 0
        while start < bytes.count {
            let n = min(chunk, bytes.count - start)
            let piece = UnsafeMutableRawBufferPointer(rebasing: scratch[0..<n])
            fill(piece, tensor: t, firstElement: start / 4)
            if memcmp(piece.baseAddress!, bytes.baseAddress! + start, n) != 0 { return false }
            start += n
        }
        return true
    }
}

/// A training state held in page-aligned memory, filled deterministically:
/// in memory of its own, or in a `TensorArena` (copy-on-write snapshots).
final class TrainingState: @unchecked Sendable {
    let layout: StateLayout
    let tensors: [BenchTensor]
    /// The arena holding the tensors, if they live in one.
    let arena: TensorArena?

    init(layout: StateLayout, inArena: Bool = false) throws {
        self.layout = layout
        let shapes = layout.tensors
        let arena = inArena ? try TensorArena(capacity: shapes.reduce(0) { $0 + ($1.shape.reduce(1, *) * 4 + 4095) & ~4095 }) : nil
        var list: [BenchTensor] = []
        for (i, t) in shapes.enumerated() {
            let count = t.shape.reduce(1, *) * 4
            let bytes = try arena?.allocate(byteCount: count, alignment: 4096)
                ?? UnsafeMutableRawBufferPointer.allocate(byteCount: count, alignment: 4096)
            StateContents.fill(bytes, tensor: i, firstElement: 0)
            list.append(BenchTensor(name: t.name, shape: t.shape, bytes: bytes, index: i))
        }
        tensors = list
        self.arena = arena
    }

    deinit { if arena == nil { for t in tensors { t.bytes.deallocate() } } }

    var bytes: Int { layout.bytes }

    /// The tensors as sources for Resumable's writer (no copy).
    var sources: [TensorSource] {
        tensors.map { t in TensorSource(name: t.name, dtype: .f32, shape: t.shape, bytes: UnsafeRawBufferPointer(t.bytes)) }
    }

    /// Changes one value per tensor, as a training step would.
    func step(_ n: Int) {
        for t in tensors {
            t.bytes.storeBytes(of: Float(n), toByteOffset: 0, as: Float.self)
        }
    }
}
