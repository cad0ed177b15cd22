import Foundation
import Resumable
import Testing

@Suite("resumable verify")
struct CLIVerifyTests {
    @Test("an intact checkpoint exits 0")
    func intact() throws {
        let run = try CLIFixture.makeRun("verify-ok")
        let text = try TestSupport.resumable("verify", run)
        #expect(text.status == 0, "\(text)")
        #expect(text.stdout.hasPrefix("step-000000000300: ok"))
        let (outcome, json) = try CLIFixture.json("verify", run + "@step-100", "--json")
        #expect(outcome.status == 0)
        #expect(json["intact"] == true)
        #expect(json["checkpoints"]?.arrayValue?.first?["step"]?.intValue == 100)
        #expect(json["checkpoints"]?.arrayValue?.first?["problems"] == [])
    }

    @Test("a flipped byte exits 65 naming the file and the tensor")
    func flippedByte() throws {
        let run = try CLIFixture.makeRun("verify-flip")
        try CLIFixture.flipByte(run: run, step: 300, tensor: "b")
        let text = try TestSupport.resumable("verify", run)
        #expect(text.status == 65, "\(text)")
        #expect(text.stdout.contains("step-000000000300: CORRUPT"))
        #expect(text.stdout.contains("model.safetensors"))
        #expect(text.stdout.contains("(tensor b)"))
        #expect(text.stderr.hasPrefix("resumable: error: 1 of 1 checkpoint failed verification"))
        #expect(text.stderr.contains("hint:"))
        let (outcome, json) = try CLIFixture.json("verify", run, "--json")
        #expect(outcome.status == 65)
        #expect(json["intact"] == false)
        let problem = try #require(json["checkpoints"]?.arrayValue?.first?["problems"]?.arrayValue?.first)
        #expect(problem["file"]?.stringValue == "model.safetensors")
        #expect(problem["tensors"] == ["b"])
    }

    @Test("--all verifies every checkpoint; one truncated file makes it exit 65")
    func all() throws {
        let run = try CLIFixture.makeRun("verify-all")
        let (ok, okJSON) = try CLIFixture.json("verify", run, "--all", "--json")
        #expect(ok.status == 0, "\(ok)")
        #expect(okJSON["checkpoints"]?.arrayValue?.count == 3)
        try CLIFixture.truncate(run: run, step: 100, file: "state.json")
        let (bad, badJSON) = try CLIFixture.json("verify", run, "--all", "--json")
        #expect(bad.status == 65, "\(bad)")
        #expect(badJSON["checkpoints"]?.arrayValue?.map { $0["intact"] } == [false, true, true])
        #expect(badJSON["checkpoints"]?.arrayValue?.first?["problems"]?.arrayValue?.first?["file"]?.stringValue == "state.json")
        // Progress goes to a terminal only: piped stderr holds no progress line.
        #expect(!bad.stderr.contains("verifying step-"))
    }

    @Test("a damaged manifest of the newest step fails verification of RUN")
    func damagedManifest() throws {
        let run = try CLIFixture.makeRun("verify-manifest")
        try Data("{}".utf8).write(to: URL(fileURLWithPath: CLIFixture.checkpoint(run, 300) + "/manifest.json"))
        let outcome = try TestSupport.resumable("verify", run)
        #expect(outcome.status == 65, "\(outcome)")
        #expect(outcome.stdout.contains("manifest.json"))
    }
}
