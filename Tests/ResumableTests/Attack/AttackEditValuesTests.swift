import Foundation
import Resumable
import Testing

/// Issue 10, item 10: an edit that would make an intact manifest invalid is
/// the user's mistake (exit 64 naming the key and value), not damage (65).
@Suite("Attack: edit values")
struct AttackEditValuesTests {
    @Test("bad values for typed keys exit 64 naming the key and value; the checkpoint still verifies")
    func badValues() throws {
        let (run, cleanup) = try AttackFixture.run("attack-edit-values", steps: [100])
        defer { cleanup() }
        let before = try AttackFixture.manifestBytes(run, 100)
        let cases: [([String], key: String, value: String)] = [
            (["--set", "metrics.loss=abc"], "metrics.loss", "\"abc\""),
            (["--set", "tags=5"], "tags", "5"),
            (["--unset", "epoch"], "epoch", "removed"),
            (["--set", "metadata=[1]"], "metadata", "[1]"),
            (["--set", "epoch=-1"], "epoch", "-1"),
            (["--set", "run_id=7"], "run_id", "7"),
            (["--set", "metrics=[]"], "metrics", "[]"),
            (["--set", "tags=[\"a\", 1]"], "tags", "[\"a\",1]"),
        ]
        for (arguments, key, value) in cases {
            let outcome = try TestSupport.run(TestSupport.resumable, ["edit", run + "@step-100"] + arguments)
            #expect(outcome.status == 64, "\(arguments): \(outcome)")
            #expect(outcome.stderr.contains(key), "\(arguments): names the key: \(outcome.stderr)")
            #expect(outcome.stderr.contains(value), "\(arguments): names the value: \(outcome.stderr)")
            #expect(!outcome.stderr.contains("damaged"), "\(arguments): \(outcome.stderr)")
            #expect(try AttackFixture.manifestBytes(run, 100) == before, "\(arguments)")
        }
        let verify = try TestSupport.resumable("verify", run + "@step-100")
        #expect(verify.status == 0, "\(verify)")
    }

    @Test("a manifest damaged on disk before the edit is still exit 65")
    func damagedStaysCorrupt() throws {
        let (run, cleanup) = try AttackFixture.run("attack-edit-damaged", steps: [100, 200])
        defer { cleanup() }
        try AttackFixture.rewriteManifest(run, 200) { $0["tags"] = 5 }
        let outcome = try TestSupport.resumable("edit", run + "@step-200", "--set", "metadata.x=1")
        #expect(outcome.status == 65, "\(outcome)")
    }
}
