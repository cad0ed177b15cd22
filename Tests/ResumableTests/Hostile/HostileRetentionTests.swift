import Foundation
import Resumable
import Testing

/// Retention rules and tensor shapes with extreme numbers (as a command line
/// may pass them) give an answer or a clear error, never a crash.
@Suite("Hostile input: extreme retention rules and shapes")
struct HostileRetentionTests {
    static let policies: [RetentionPolicy] = [
        RetentionPolicy(keepOnePer: 1e-300),
        RetentionPolicy(keepOnePer: .infinity),
        RetentionPolicy(keepOnePer: .nan),
        RetentionPolicy(keepOnePer: 1e300),
        RetentionPolicy(keepOnePer: -5),
        RetentionPolicy(keepLast: Int.max),
        RetentionPolicy(keepLast: Int.min),
        RetentionPolicy(keepBest: Int.max, monitor: Monitor(metric: "loss", mode: .min)),
        RetentionPolicy(keepBest: -1, monitor: Monitor(metric: "loss", mode: .max)),
        RetentionPolicy(keepEvery: Int64.max),
        RetentionPolicy(keepEvery: Int64.min),
        RetentionPolicy(keepLast: 0, keepBest: 0, keepEvery: 0, keepOnePer: 0),
    ]

    @Test("extreme retention rules keep latest and best and do not crash", arguments: policies)
    func extremePolicy(_ policy: RetentionPolicy) throws {
        let run = TestSupport.temporaryDirectory("hostile-retention") + "/run"
        defer { try? FileManager.default.removeItem(atPath: FilePath.parent(of: run)) }
        let store = try CheckpointStore(directory: run, access: .write, create: true)
        let losses: [Double] = [0.5, 0.1, .nan, 0.7, .infinity]
        for (i, loss) in losses.enumerated() {
            try store.commit(step: Int64(i + 1)) { draft in
                try draft.writeState(["i": i])
                draft.metrics = ["loss": loss]
            }
        }
        let report = try store.prune(policy, protecting: [3])
        let kept = Set(try store.committedSteps())
        #expect(kept.contains(5), "latest is kept")
        #expect(kept.contains(3), "a protected step is kept")
        #expect(Set(report.deleted).isDisjoint(with: kept))
    }

    @Test("tensors whose sizes add up past Int.max are refused before anything is written")
    func writerOffsetOverflow() throws {
        let dir = TestSupport.temporaryDirectory("hostile-writer")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let huge = TensorSource(name: "a", dtype: .u8, shape: [Int.max]) { _ in }
        let error = #expect(throws: ResumableError.self) {
            try SafeTensorsWriter.write([huge, TensorSource(name: "b", dtype: .u8, shape: [Int.max]) { _ in }], to: dir + "/x.safetensors")
        }
        #expect(error?.code == .usage)
        #expect(!FileSystem.exists(dir + "/x.safetensors"))
    }
}
