import Foundation
import Resumable
import Testing

@Suite("resumable edit")
struct CLIEditTests {
    @Test("--set, --unset, --tag, --untag rewrite the manifest and keep unknown keys")
    func edit() throws {
        let run = try CLIFixture.makeRun("edit-ok")
        let first = try TestSupport.resumable(
            "edit", run + "@step-200", "--set", "metadata.wandb_run_id=abc123", "--set", "custom={\"kept\": true}", "--tag", "golden",
            "--tag", "pinned")
        #expect(first.status == 0, "\(first)")
        #expect(first.stdout.contains("Edited "))
        let (outcome, json) = try CLIFixture.json(
            "edit", run + "@step-200", "--unset", "metadata.wandb_run_id", "--untag", "golden", "--set", "metrics.val=0.5", "--json")
        #expect(outcome.status == 0, "\(outcome)")
        let manifest = try #require(json["manifest"])
        #expect(json["step"]?.intValue == 200)
        #expect(manifest["custom"] == ["kept": true])
        #expect(manifest["metadata"] == .object([:]))
        #expect(manifest["tags"] == ["pinned"])
        #expect(manifest["metrics"]?["val"]?.doubleValue == 0.5)
        #expect(manifest["edited_at"]?.stringValue != nil)
        let verify = try TestSupport.resumable("verify", run + "@step-200")
        #expect(verify.status == 0, "an edit keeps the checkpoint verifiable: \(verify)")
    }

    @Test("protected keys, missing keys and no change are usage errors (64)")
    func refused() throws {
        let run = try CLIFixture.makeRun("edit-refused")
        for key in ["step=5", "files=[]", "format=x"] {
            let outcome = try TestSupport.resumable("edit", run, "--set", key)
            #expect(outcome.status == 64, "\(key): \(outcome)")
            #expect(outcome.stderr.contains("cannot be edited"))
        }
        let missing = try TestSupport.resumable("edit", run, "--unset", "metadata.nope")
        #expect(missing.status == 64, "\(missing)")
        let nothing = try TestSupport.resumable("edit", run)
        #expect(nothing.status == 64, "\(nothing)")
    }

    @Test("a locked run exits 75")
    func locked() throws {
        let run = try CLIFixture.makeRun("edit-locked")
        let lock = try RunLock.acquire(directory: run)
        defer { lock.release() }
        let outcome = try TestSupport.resumable("edit", run, "--tag", "x")
        #expect(outcome.status == 75, "\(outcome)")
    }
}
