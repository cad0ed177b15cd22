import Foundation
import Resumable
import Testing

@Suite("resumable ls")
struct CLIListTests {
    @Test("--json has exactly the documented shape, ordered by step")
    func jsonShape() throws {
        let run = try CLIFixture.makeRun("ls-json")
        let (outcome, json) = try CLIFixture.json("ls", run, "--json")
        #expect(outcome.status == 0, "\(outcome)")
        #expect(Set(json.objectValue?.keys.map { $0 } ?? []) == ["run", "latest", "best", "checkpoints"])
        #expect(json["run"]?.stringValue == run)
        #expect(json["latest"]?.intValue == 300)
        #expect(json["best"]?.intValue == 200)
        let checkpoints = try #require(json["checkpoints"]?.arrayValue)
        #expect(checkpoints.map { $0["step"]?.intValue } == [100, 200, 300])
        for entry in checkpoints {
            #expect(
                Set(entry.objectValue?.keys.map { $0 } ?? [])
                    == ["step", "epoch", "created_at", "metrics", "tags", "bytes", "path", "state"])
            #expect(entry["state"]?.stringValue == "unverified")
            #expect((entry["bytes"]?.intValue ?? 0) > 0)
        }
        #expect(checkpoints[1]["metrics"]?["loss"]?.doubleValue == CLIFixture.loss(200))
        #expect(checkpoints[2]["path"]?.stringValue == CLIFixture.checkpoint(run, 300))
        #expect(checkpoints[0]["epoch"]?.intValue == 1)
    }

    @Test("the table shows every checkpoint and marks latest and best")
    func table() throws {
        let run = try CLIFixture.makeRun("ls-table")
        let outcome = try TestSupport.resumable("ls", run)
        #expect(outcome.status == 0, "\(outcome)")
        let lines = outcome.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first?.contains("STEP") == true && lines.first?.contains("STATE") == true)
        #expect(lines.contains { $0.hasPrefix("100") || $0.contains(" 100 ") })
        #expect(lines.contains { $0.contains("300") && $0.contains("(latest)") })
        #expect(lines.contains { $0.contains("200") && $0.contains("(best)") })
        #expect(outcome.stdout.contains("3 checkpoints; latest: step 300; best loss (min): step 200"))
    }

    @Test("--verify marks a flipped byte corrupt, falls back to the newest good checkpoint saying so, and exits 65")
    func verifyCorrupt() throws {
        let run = try CLIFixture.makeRun("ls-verify")
        let clean = try TestSupport.resumable("ls", run, "--verify")
        #expect(clean.status == 0, "\(clean)")
        try CLIFixture.flipByte(run: run, step: 300)
        let (outcome, json) = try CLIFixture.json("ls", run, "--verify", "--json")
        #expect(outcome.status == 65, "a corrupt checkpoint fails ls --verify as it fails verify: \(outcome)")
        #expect(outcome.stderr.contains("1 checkpoint(s)") && outcome.stderr.contains("step-000000000300"), "\(outcome.stderr)")
        let states = json["checkpoints"]?.arrayValue?.map { $0["state"]?.stringValue }
        #expect(states == ["ok", "ok", "corrupt"])
        #expect(json["latest"]?.intValue == 200)
        #expect(outcome.stderr.contains("falling back to step-000000000200"), "\(outcome.stderr)")
        #expect(outcome.stderr.contains("model.safetensors"))
        // Without --verify, sizes still match: the flip is not seen.
        let (_, quick) = try CLIFixture.json("ls", run, "--json")
        #expect(quick["checkpoints"]?.arrayValue?.map { $0["state"]?.stringValue } == ["unverified", "unverified", "unverified"])
    }

    @Test("a truncated file and a damaged manifest are corrupt without --verify")
    func cheapCheck() throws {
        let run = try CLIFixture.makeRun("ls-cheap")
        try CLIFixture.truncate(run: run, step: 200, file: "state.json")
        let damaged = CLIFixture.checkpoint(run, 400)
        try FileManager.default.createDirectory(atPath: damaged, withIntermediateDirectories: true)
        try Data("{not json".utf8).write(to: URL(fileURLWithPath: damaged + "/manifest.json"))
        let (outcome, json) = try CLIFixture.json("ls", run, "--json")
        #expect(outcome.status == 0, "\(outcome)")
        let checkpoints = try #require(json["checkpoints"]?.arrayValue)
        #expect(checkpoints.map { $0["step"]?.intValue } == [100, 200, 300, 400])
        #expect(checkpoints.map { $0["state"]?.stringValue } == ["unverified", "corrupt", "unverified", "corrupt"])
        #expect(checkpoints[3]["epoch"] == .null)
        #expect(json["latest"]?.intValue == 300)
        #expect(outcome.stderr.contains("falling back to step-000000000300"), "\(outcome.stderr)")
        let text = try TestSupport.resumable("ls", run)
        #expect(text.stdout.contains("2 corrupt"))
        #expect(text.stdout.contains("corrupt: step-000000000200: state.json"))
    }

    @Test("a run that does not exist exits 66; an s3:// run is a usage error")
    func missing() throws {
        let missing = try TestSupport.resumable("ls", TestSupport.temporaryDirectory("ls-missing") + "/nope")
        #expect(missing.status == 66, "\(missing)")
        #expect(missing.stderr.hasPrefix("resumable: error: no run at"))
        let s3 = try TestSupport.resumable("ls", "s3://bucket/prefix")
        #expect(s3.status == 64, "\(s3)")
        #expect(s3.stderr.contains("not supported"))
    }
}
