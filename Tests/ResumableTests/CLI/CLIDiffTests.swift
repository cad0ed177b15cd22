import Foundation
import Resumable
import Testing

@Suite("resumable diff")
struct CLIDiffTests {
    @Test("a checkpoint against itself: identical, exit 0")
    func identical() throws {
        let run = try CLIFixture.makeRun("diff-same")
        let (outcome, json) = try CLIFixture.json("diff", run + "@step-100", CLIFixture.checkpoint(run, 100), "--json")
        #expect(outcome.status == 0, "\(outcome)")
        #expect(json["identical"] == true)
        #expect(json["tensors"]?.arrayValue?.allSatisfy { $0["status"]?.stringValue == "equal" } == true)
        #expect(json["metadata"] == [])
    }

    @Test("different steps: exit 1, the max absolute difference per tensor, metadata differences")
    func different() throws {
        let run = try CLIFixture.makeRun("diff-differ")
        let (outcome, json) = try CLIFixture.json("diff", run + "@step-100", run + "@step-300", "--json")
        #expect(outcome.status == 1, "\(outcome)")
        #expect(json["identical"] == false)
        #expect(json["a"]?["step"]?.intValue == 100)
        let tensors = try #require(json["tensors"]?.arrayValue)
        let w = try #require(tensors.first { $0["name"]?.stringValue == "w" })
        #expect(w["status"]?.stringValue == "different")
        // Element 5: 5 * 3 - 5 * 1 = 10.
        #expect(w["max_abs_diff"]?.doubleValue == 10)
        #expect(w["differing_elements"]?.intValue == 5)
        #expect(tensors.first { $0["name"]?.stringValue == "b" }?["status"]?.stringValue == "equal")
        let keys = json["metadata"]?.arrayValue?.compactMap { $0["key"]?.stringValue } ?? []
        #expect(keys.contains("epoch"))
        #expect(keys.contains("state.json:step"))
        #expect(!keys.contains("metrics.loss"), "losses of steps 100 and 300 are equal")
        #expect(json["files"]?.arrayValue?.first { $0["name"]?.stringValue == "state.json" }?["status"]?.stringValue == "different")
        let text = try TestSupport.resumable("diff", run + "@step-100", run + "@step-200")
        #expect(text.status == 1)
        #expect(text.stdout.contains("max abs diff 5 (5 of 6 elements)"))
        #expect(text.stdout.contains("metrics.loss: "))
        #expect(text.stdout.contains("The tensors differ."))
    }

    @Test("--tolerance counts small differences as equal")
    func tolerance() throws {
        let run = try CLIFixture.makeRun("diff-tolerance")
        let (outcome, json) = try CLIFixture.json("diff", run + "@step-100", run + "@step-200", "--tolerance", "5", "--json")
        #expect(outcome.status == 0, "\(outcome)")
        #expect(json["tensors"]?.arrayValue?.first { $0["name"]?.stringValue == "w" }?["status"]?.stringValue == "within_tolerance")
        let negative = try TestSupport.resumable("diff", run, run, "--tolerance", "-1")
        #expect(negative.status == 64, "\(negative)")
    }

    @Test("tensors missing on one side, other dtypes and shapes")
    func structure() throws {
        let dir = TestSupport.temporaryDirectory("diff-structure")
        let store = try CheckpointStore(directory: dir + "/run", access: .write, create: true)
        try store.commit(step: 1) { draft in
            try draft.writeTensors([
                TensorSource(name: "a", dtype: .f32, shape: [2], values: [Float(1), 2]),
                TensorSource(name: "h", dtype: .f16, shape: [1], values: [UInt16(0x3C00)]),  // 1.0
                TensorSource(name: "only_left", dtype: .u8, shape: [1], values: [UInt8(1)]),
            ])
        }
        try store.commit(step: 2) { draft in
            try draft.writeTensors([
                TensorSource(name: "a", dtype: .f64, shape: [2], values: [Double(1), 2]),
                TensorSource(name: "h", dtype: .f16, shape: [1], values: [UInt16(0x4000)]),  // 2.0
                TensorSource(name: "only_right", dtype: .u8, shape: [1], values: [UInt8(1)]),
            ])
        }
        store.close()
        let (outcome, json) = try CLIFixture.json("diff", dir + "/run@step-1", dir + "/run@step-2", "--json")
        #expect(outcome.status == 1, "\(outcome)")
        let status = Dictionary(
            uniqueKeysWithValues: (json["tensors"]?.arrayValue ?? []).map { ($0["name"]?.stringValue ?? "", $0) })
        #expect(status["a"]?["status"]?.stringValue == "dtype_differs")
        #expect(status["h"]?["max_abs_diff"]?.doubleValue == 1)
        #expect(status["only_left"]?["status"]?.stringValue == "only_in_a")
        #expect(status["only_right"]?["status"]?.stringValue == "only_in_b")
    }

    @Test("missing input exits 66, a damaged tensor file 65")
    func unreadable() throws {
        let run = try CLIFixture.makeRun("diff-bad")
        let missing = try TestSupport.resumable("diff", run + "@step-100", run + "@step-999")
        #expect(missing.status == 66, "\(missing)")
        try CLIFixture.truncate(run: run, step: 300, file: "model.safetensors")
        let damaged = try TestSupport.resumable("diff", run + "@step-100", run + "@step-300")
        #expect(damaged.status == 65, "\(damaged)")
        #expect(damaged.stderr.contains("model.safetensors"))
    }
}
