#if canImport(Glibc)
import Glibc
#endif
public import CheckpointStore
import DurableFiles
import JSON
import SafeTensors

/// The checkpoints the crash writer commits, with content derived from the
/// step alone, so a checker that never talked to the writer can tell whether
/// a checkpoint holds exactly what was committed at its step.
///
/// Each step holds `model.safetensors` (an F32 `weights` tensor whose size
/// varies from 4 KB to 600 KB, an I64 `bias`, a U8 `mask`), on even steps an
/// `optimizer.safetensors` with an F64 `moments` tensor of up to 1.1 MB (big
/// enough for the writer's two-core path), and `state.json`. Every third step
/// is edited after its commit (`metadata.edited` = step).
public enum CrashWorkload {
    /// Retention the writer applies after every commit: the last 3 and the best 2 by `loss`.
    public static let policy = RetentionPolicy(
        keepLast: keepLast, keepBest: keepBest, monitor: Monitor(metric: "loss", mode: .min))
    /// `policy`'s keep-last count.
    public static let keepLast = 3
    /// `policy`'s keep-best count.
    public static let keepBest = 2

    /// The training state written to `state.json`.
    public struct State: Codable, Equatable, Sendable {
        public var step: Int64
        public var epoch: Int64
        public var seed: UInt64
    }

    /// The `loss` metric of a step: a fixed pseudo-random number in [0, 1).
    public static func loss(step: Int64) -> Double {
        Double((UInt64(bitPattern: step) &* 0x9E37_79B9_7F4A_7C15) >> 11) / Double(1 << 53)
    }

    /// The epoch recorded for a step.
    public static func epoch(step: Int64) -> Int64 { step / 10 }

    /// The state of a step.
    public static func state(step: Int64) -> State {
        State(step: step, epoch: epoch(step: step), seed: UInt64(bitPattern: step) &* 31 &+ 7)
    }

    /// The `weights` tensor of a step.
    public static func weights(step: Int64) -> [Float] {
        let count = 1024 * (1 + Int(step % 7) * 24)
        let base = Float(step % 1000)
        return (0..<count).map { base + Float($0 % 251) * 0.25 }
    }

    /// The `bias` tensor of a step.
    public static func bias(step: Int64) -> [Int64] {
        (0..<(17 + Int(step % 13))).map { step * 1000 + Int64($0) }
    }

    /// The `mask` tensor of a step.
    public static func mask(step: Int64) -> [UInt8] {
        (0..<100).map { UInt8(truncatingIfNeeded: Int(step) &+ $0) }
    }

    /// The `moments` tensor of an even step; odd steps have no optimizer file.
    public static func moments(step: Int64) -> [Double]? {
        guard step % 2 == 0 else { return nil }
        let count = 4096 * (1 + Int(step % 5) * 8)
        return (0..<count).map { Double(step) + Double($0 % 509) / 512 }
    }

    /// Whether the writer edits this step after committing it.
    public static func isEdited(step: Int64) -> Bool { step % 3 == 0 }

    /// The files a step's checkpoint holds.
    public static func fileNames(step: Int64) -> Set<String> {
        moments(step: step) == nil
            ? ["model.safetensors", "state.json"] : ["model.safetensors", "optimizer.safetensors", "state.json"]
    }

    /// Fills a draft with the content of its step.
    public static func fill(_ draft: CheckpointDraft) throws {
        let step = draft.step
        let w = weights(step: step)
        let b = bias(step: step)
        try draft.writeTensors([
            TensorSource(name: "weights", dtype: .f32, shape: [w.count / 64, 64], values: w),
            TensorSource(name: "bias", dtype: .i64, shape: [b.count], values: b),
            TensorSource(name: "mask", dtype: .u8, shape: [10, 10], values: mask(step: step)),
        ], metadata: ["step": String(step)])
        if let m = moments(step: step) {
            try draft.writeTensors([TensorSource(name: "moments", dtype: .f64, shape: [m.count], values: m)], named: "optimizer.safetensors")
        }
        try draft.writeState(state(step: step))
        draft.epoch = epoch(step: step)
        draft.metrics = ["loss": loss(step: step)]
        draft.tags = ["crash-test"]
    }

    /// The same content as `fill`, saved by an `AsyncCheckpointWriter` from
    /// tensors that live in a `TensorArena` (snapshotted copy-on-write), and
    /// then overwritten with garbage at once, as training would, while the
    /// save is still in flight.
    public final class ArenaState: @unchecked Sendable {
        let arena: TensorArena
        let weights: UnsafeMutableBufferPointer<Float>
        let momentsStorage: UnsafeMutableBufferPointer<Double>
        let bias: UnsafeMutableBufferPointer<Int64>
        let mask: UnsafeMutableBufferPointer<UInt8>

        public init() throws {
            arena = try TensorArena(capacity: 4 << 20)
            weights = try arena.allocate(Float.self, count: 1024 * 145)
            bias = try arena.allocate(Int64.self, count: 30)
            mask = try arena.allocate(UInt8.self, count: 100)
            momentsStorage = try arena.allocate(Double.self, count: 4096 * 33)
        }

        /// Puts a step's content in the arena, saves it, then scribbles over it.
        public func save(step: Int64, with writer: AsyncCheckpointWriter) throws {
            func put<T>(_ values: [T], in buffer: UnsafeMutableBufferPointer<T>) -> UnsafeRawBufferPointer {
                _ = UnsafeMutableBufferPointer(rebasing: buffer[0..<values.count]).initialize(from: values)
                return UnsafeRawBufferPointer(UnsafeMutableBufferPointer(rebasing: buffer[0..<values.count]))
            }
            let w = CrashWorkload.weights(step: step)
            let b = CrashWorkload.bias(step: step)
            var files: [(name: String, tensors: [TensorSource], metadata: [String: String])] = [(
                "model.safetensors",
                [
                    TensorSource(name: "weights", dtype: .f32, shape: [w.count / 64, 64], bytes: put(w, in: weights)),
                    TensorSource(name: "bias", dtype: .i64, shape: [b.count], bytes: put(b, in: bias)),
                    TensorSource(name: "mask", dtype: .u8, shape: [10, 10], bytes: put(CrashWorkload.mask(step: step), in: mask)),
                ],
                ["step": String(step)]
            )]
            if let m = CrashWorkload.moments(step: step) {
                files.append(("optimizer.safetensors",
                              [TensorSource(name: "moments", dtype: .f64, shape: [m.count], bytes: put(m, in: momentsStorage))], [:]))
            }
            try writer.save(step: step, tensorFiles: files) { draft in
                try draft.writeState(CrashWorkload.state(step: step))
                draft.epoch = CrashWorkload.epoch(step: step)
                draft.metrics = ["loss": CrashWorkload.loss(step: step)]
                draft.tags = ["crash-test"]
            }
            // Training goes on: every byte changes while the save is in flight.
            weights.update(repeating: .nan)
            bias.update(repeating: -1)
            mask.update(repeating: 0xEE)
            momentsStorage.update(repeating: -.infinity)
        }
    }

    /// The steps that must exist once steps 1…`latest` have been committed in
    /// order under `policy` (whatever crashes happened): the last `keepLast`,
    /// and the best `keepBest` by loss (ties to the earlier step, as `best`
    /// and retention rank them), as retention never deletes those.
    public static func mustExist(latest: Int64) -> Set<Int64> {
        guard latest >= 1 else { return [] }
        var result = Set(max(1, latest - Int64(keepLast) + 1)...latest)
        let ranked = (1...latest).sorted { a, b in
            let (la, lb) = (loss(step: a), loss(step: b))
            return la == lb ? a < b : la < lb
        }
        result.formUnion(ranked.prefix(keepBest))
        return result
    }

    /// Everything wrong with a listed checkpoint: files that do not verify, and
    /// content that is not what the writer commits at its step. Empty when it is whole.
    public static func problems(in checkpoint: Checkpoint) -> [String] {
        let step = checkpoint.step
        let name = Checkpoint.directoryName(step: step)
        var problems: [String] = []
        do {
            let report = try CheckpointStore.verify(checkpoint)
            if !report.isIntact { problems.append("\(name) does not verify: \(report.summary)") }
        } catch {
            problems.append("\(name) cannot be verified: \(error)")
        }
        let m = checkpoint.manifest
        if Set(m.files.map(\.name)) != fileNames(step: step) { problems.append("\(name) lists files \(m.files.map(\.name))") }
        if m.epoch != epoch(step: step) { problems.append("\(name) has epoch \(m.epoch)") }
        if m.metrics != ["loss": loss(step: step)] { problems.append("\(name) has metrics \(m.metrics)") }
        if m.tags != ["crash-test"] { problems.append("\(name) has tags \(m.tags)") }
        if let edited = m.metadata["edited"], edited != .int(step) || !isEdited(step: step) {
            problems.append("\(name) has metadata.edited = \(edited.serialized())")
        }
        do {
            let model = try checkpoint.tensors()
            if model.metadata != ["step": String(step)] { problems.append("\(name) has safetensors metadata \(model.metadata)") }
            if try model.array("weights", as: Float.self) != weights(step: step) { problems.append("\(name): weights differ") }
            if try model.array("bias", as: Int64.self) != bias(step: step) { problems.append("\(name): bias differs") }
            if try model.array("mask", as: UInt8.self) != mask(step: step) { problems.append("\(name): mask differs") }
            if let expected = moments(step: step) {
                let optimizer = try checkpoint.tensors(named: "optimizer.safetensors")
                if try optimizer.array("moments", as: Double.self) != expected { problems.append("\(name): moments differ") }
            }
            let state: State = try checkpoint.decodeState()
            if state != Self.state(step: step) { problems.append("\(name): state \(state)") }
        } catch {
            problems.append("\(name) does not load: \(error)")
        }
        return problems
    }
}
