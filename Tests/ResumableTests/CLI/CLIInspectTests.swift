import Foundation
import Resumable
import Testing

@Suite("resumable inspect")
struct CLIInspectTests {
    @Test("--json shows the manifest, the tensors and the state keys")
    func json() throws {
        let run = try CLIFixture.makeRun("inspect-json")
        let (outcome, json) = try CLIFixture.json("inspect", run, "--json")
        #expect(outcome.status == 0, "\(outcome)")
        #expect(json["step"]?.intValue == 300)
        #expect(json["path"]?.stringValue == CLIFixture.checkpoint(run, 300))
        #expect(json["manifest"]?["format"]?.stringValue == "resumable.checkpoint")
        #expect(json["manifest"]?["metrics"]?["loss"]?.doubleValue == CLIFixture.loss(300))
        #expect(json["state_keys"] == ["lr", "step"])
        let files = try #require(json["tensor_files"]?.arrayValue)
        #expect(files.count == 1)
        #expect(files[0]["name"]?.stringValue == "model.safetensors")
        let tensors = try #require(files[0]["tensors"]?.arrayValue)
        #expect(tensors.count == 2)
        let w = try #require(tensors.first { $0["name"]?.stringValue == "w" })
        #expect(w == ["name": "w", "dtype": "F32", "shape": [2, 3], "bytes": 24])
        let b = try #require(tensors.first { $0["name"]?.stringValue == "b" })
        #expect(b == ["name": "b", "dtype": "I64", "shape": [2], "bytes": 16])
    }

    @Test("references: @best, @step-N, a checkpoint directory, --monitor overriding the run's")
    func references() throws {
        let run = try CLIFixture.makeRun("inspect-refs")
        func step(_ args: String...) throws -> Int64? {
            let outcome = try TestSupport.run(TestSupport.resumable, ["inspect"] + args + ["--json"])
            #expect(outcome.status == 0, "\(outcome)")
            return try TestSupport.json(outcome.stdout)["step"]?.intValue
        }
        #expect(try step(run + "@best") == 200)
        #expect(try step(run + "@latest") == 300)
        #expect(try step(run + "@step-100") == 100)
        #expect(try step(run + "@100") == 100)
        #expect(try step(CLIFixture.checkpoint(run, 200)) == 200)
        // Steps 100 and 300 tie on the largest loss: the earliest is best (docs/FORMAT.md).
        #expect(try step(run + "@best", "--monitor", "loss", "--mode", "max") == 100)
        // A checkpoint directory copied out of its run still reads.
        let copy = TestSupport.temporaryDirectory("inspect-copy") + "/ckpt"
        try FileManager.default.copyItem(atPath: CLIFixture.checkpoint(run, 100), toPath: copy)
        #expect(try step(copy) == 100)
    }

    @Test("the text form lists files, tensors and state keys")
    func text() throws {
        let run = try CLIFixture.makeRun("inspect-text")
        let outcome = try TestSupport.resumable("inspect", run + "@step-200")
        #expect(outcome.status == 0, "\(outcome)")
        #expect(outcome.stdout.hasPrefix("Checkpoint step 200 at"))
        #expect(outcome.stdout.contains("Tensors in model.safetensors (2)"))
        #expect(outcome.stdout.contains("F32    [2, 3]"))
        #expect(outcome.stdout.contains("State (state.json): lr, step"))
    }

    @Test("bad references: unknown selector 64, missing step 66, @best without a monitor 64")
    func badReferences() throws {
        let run = try CLIFixture.makeRun("inspect-bad", monitor: false)
        let selector = try TestSupport.resumable("inspect", run + "@newest")
        #expect(selector.status == 64, "\(selector)")
        #expect(selector.stderr.contains("RUN@step-N"))
        let missing = try TestSupport.resumable("inspect", run + "@step-999")
        #expect(missing.status == 66, "\(missing)")
        let best = try TestSupport.resumable("inspect", run + "@best")
        #expect(best.status == 64, "\(best)")
        #expect(best.stderr.contains("--monitor"))
        let mode = try TestSupport.resumable("inspect", run, "--monitor", "loss")
        #expect(mode.status == 64, "\(mode)")
    }

    @Test("--verify resolves latest past a corrupt checkpoint and says so on stderr")
    func verifiedLatest() throws {
        let run = try CLIFixture.makeRun("inspect-fallback")
        try CLIFixture.flipByte(run: run, step: 300)
        let (outcome, json) = try CLIFixture.json("inspect", run, "--verify", "--json")
        #expect(outcome.status == 0, "\(outcome)")
        #expect(json["step"]?.intValue == 200)
        #expect(outcome.stderr.contains("step-000000000300 is corrupt"), "\(outcome.stderr)")
        #expect(outcome.stderr.contains("falling back"))
    }

    @Test("--verify resolves @best past a corrupt best to the next best, as latest does; none intact is 66")
    func verifiedBest() throws {
        let run = try CLIFixture.makeRun("inspect-best-fallback")
        try CLIFixture.flipByte(run: run, step: 200)
        let (plain, unverified) = try CLIFixture.json("inspect", run + "@best", "--json")
        #expect(plain.status == 0, "\(plain)")
        #expect(unverified["step"]?.intValue == 200, "without --verify the best is chosen by its metric alone")
        let (outcome, json) = try CLIFixture.json("inspect", run + "@best", "--verify", "--json")
        #expect(outcome.status == 0, "\(outcome)")
        // 100 and 300 tie at the next best loss; the earliest wins.
        #expect(json["step"]?.intValue == 100)
        #expect(outcome.stderr.contains("step-000000000200 is corrupt"), "\(outcome.stderr)")
        #expect(outcome.stderr.contains("falling back to the next best, step-000000000100"), "\(outcome.stderr)")
        for step: Int64 in [100, 300] { try CLIFixture.flipByte(run: run, step: step) }
        let none = try TestSupport.resumable("inspect", run + "@best", "--verify", "--json")
        #expect(none.status == 66, "\(none)")
        #expect(none.stdout.isEmpty)
    }

    @Test("--verify on an exact step or directory that does not verify is exit 65, naming it; intact ones print")
    func verifiedExact() throws {
        let run = try CLIFixture.makeRun("inspect-exact-verify")
        try CLIFixture.flipByte(run: run, step: 200)
        for reference in [run + "@step-200", CLIFixture.checkpoint(run, 200)] {
            let plain = try TestSupport.resumable("inspect", reference, "--json")
            #expect(plain.status == 0, "without --verify nothing is hashed: \(plain)")
            let verified = try TestSupport.resumable("inspect", reference, "--verify", "--json")
            #expect(verified.status == 65, "\(verified)")
            #expect(verified.stdout.isEmpty)
            #expect(verified.stderr.contains("step-000000000200 is damaged"), "\(verified.stderr)")
        }
        let intact = try TestSupport.resumable("inspect", run + "@step-300", "--verify", "--json")
        #expect(intact.status == 0, "\(intact)")
    }
}
