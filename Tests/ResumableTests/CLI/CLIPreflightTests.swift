import Foundation
import Resumable
import Testing

@Suite("resumable preflight")
struct CLIPreflightTests {
    /// The check named `name` of a `--json` answer.
    static func check(_ json: JSONValue, _ name: String) -> JSONValue? {
        json["checks"]?.arrayValue?.first { $0["name"]?.stringValue == name }
    }

    @Test("a healthy run passes every check: exit 0, ok lines when piped")
    func healthy() throws {
        let run = try CLIFixture.makeRun("preflight-ok")
        let text = try TestSupport.resumable("preflight", run)
        #expect(text.status == 0, "\(text)")
        for name in ["disk space", "writable", "lock", "latest checkpoint", "config"] {
            #expect(text.stdout.contains("ok   \(name)"), "\(text.stdout)")
        }
        #expect(!text.stdout.contains("✓"))
        let (outcome, json) = try CLIFixture.json("preflight", run, "--json", "--full")
        #expect(outcome.status == 0, "\(outcome)")
        #expect(json["ok"]?.boolValue == true)
        #expect(json["checks"]?.arrayValue?.count == 5)
        #expect(Self.check(json, "latest checkpoint")?["detail"]?.stringValue?.contains("checksums verified") == true)
        // The probe file is gone.
        #expect(!(try FileManager.default.contentsOfDirectory(atPath: run)).contains { $0.hasPrefix(".resumable-preflight") })
    }

    @Test("a run that does not exist yet: its parent is checked, no checkpoint is ok")
    func newRun() throws {
        let parent = TestSupport.temporaryDirectory("preflight-new")
        let (outcome, json) = try CLIFixture.json("preflight", parent + "/a/b/run", "--json")
        #expect(outcome.status == 0, "\(outcome)")
        #expect(json["ok"]?.boolValue == true)
        #expect(Self.check(json, "latest checkpoint")?["detail"]?.stringValue == "no checkpoint yet")
        #expect(Self.check(json, "writable")?["detail"]?.stringValue?.hasPrefix(parent) == true)
        #expect(!FileManager.default.fileExists(atPath: parent + "/a"))
    }

    @Test("too little free space fails (fault-injected statvfs)")
    func space() throws {
        let run = try CLIFixture.makeRun("preflight-space")
        let (outcome, json) = try CLIFixture.json(
            "preflight", run, "--json", "--expect-bytes", "1000", "--keep", "2", environment: ["RESUMABLE_FAULT_FREE_BYTES": "3999"])
        #expect(outcome.status == 1, "\(outcome)")
        #expect(json["ok"]?.boolValue == false)
        #expect(Self.check(json, "disk space")?["ok"]?.boolValue == false)
        #expect(Self.check(json, "writable")?["ok"]?.boolValue == true)
        let enough = try TestSupport.resumable(
            "preflight", run, "--expect-bytes", "1000", "--keep", "2", environment: ["RESUMABLE_FAULT_FREE_BYTES": "4000"])
        #expect(enough.status == 0, "\(enough)")
        let text = try TestSupport.resumable("preflight", run, environment: ["RESUMABLE_FAULT_FREE_BYTES": "10"])
        #expect(text.status == 1, "\(text)")
        #expect(text.stdout.contains("FAIL disk space"), "\(text.stdout)")
        #expect(text.stdout.contains("1 of 5 checks failed"))
    }

    @Test("a directory where nothing can be created fails writable (fault-injected open)")
    func readOnly() throws {
        let run = try CLIFixture.makeRun("preflight-readonly")
        let (outcome, json) = try CLIFixture.json("preflight", run, "--json", environment: ["RESUMABLE_FAULT": "open:1:EACCES"])
        #expect(outcome.status == 1, "\(outcome)")
        #expect(Self.check(json, "writable")?["ok"]?.boolValue == false)
        #expect(Self.check(json, "writable")?["detail"]?.stringValue?.contains("ermission") == true)
        #expect(Self.check(json, "disk space")?["ok"]?.boolValue == true)
    }

    /// Mounts a tmpfs at a new directory (`options` such as `ro` or `size=64k`),
    /// runs `body` with it and unmounts it; `nil` where mounting is not allowed.
    static func withTmpfs(_ label: String, options: String, _ body: (String) throws -> Void) throws -> Bool {
        let directory = TestSupport.temporaryDirectory(label) + "/mnt"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let mounted = try TestSupport.run("/bin/mount", ["-t", "tmpfs", "-o", options, "tmpfs", directory], deadline: 30)
        guard mounted.status == 0 else { return false }
        defer { _ = try? TestSupport.run("/bin/umount", [directory], deadline: 30) }
        try body(directory)
        return true
    }

    @Test("a real full file system (a 64 KiB tmpfs) fails disk space")
    func fullTmpfs() throws {
        let ran = try Self.withTmpfs("preflight-tmpfs-full", options: "size=64k") { mount in
            let (outcome, json) = try CLIFixture.json("preflight", mount + "/run", "--json", "--expect-bytes", "100000")
            #expect(outcome.status == 1, "\(outcome)")
            #expect(Self.check(json, "disk space")?["ok"]?.boolValue == false)
            #expect(Self.check(json, "writable")?["ok"]?.boolValue == true)
        }
        #expect(ran, "mount -t tmpfs failed: the test suite runs as root on Linux and needs it")
    }

    @Test("a read-only file system (a ro tmpfs) fails writable")
    func readOnlyTmpfs() throws {
        let ran = try Self.withTmpfs("preflight-tmpfs-ro", options: "ro,size=64k") { mount in
            let (outcome, json) = try CLIFixture.json("preflight", mount + "/run", "--json")
            #expect(outcome.status == 1, "\(outcome)")
            #expect(Self.check(json, "writable")?["ok"]?.boolValue == false)
            #expect(Self.check(json, "writable")?["detail"]?.stringValue?.contains("ead-only") == true)
        }
        #expect(ran, "mount -t tmpfs failed: the test suite runs as root on Linux and needs it")
    }

    @Test("a symbolic link in place of the probe is never followed")
    func probeNeverFollowsLinks() throws {
        // The probe's name is random and created with O_EXCL; a run directory that is
        // itself a link is allowed (as elsewhere) and probed inside its target.
        let target = try CLIFixture.makeRun("preflight-link")
        let link = TestSupport.temporaryDirectory("preflight-link-dir") + "/run"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: target)
        let outcome = try TestSupport.resumable("preflight", link)
        #expect(outcome.status == 0, "\(outcome)")
    }

    @Test("a live lock holder fails the lock check, naming its pid and host")
    func liveLock() throws {
        let run = try CLIFixture.makeRun("preflight-lock")
        let lock = try RunLock.acquire(directory: run)
        defer { lock.release() }
        let (outcome, json) = try CLIFixture.json("preflight", run, "--json")
        #expect(outcome.status == 1, "\(outcome)")
        let detail = Self.check(json, "lock")?["detail"]?.stringValue ?? ""
        #expect(Self.check(json, "lock")?["ok"]?.boolValue == false)
        #expect(detail.contains("pid \(getpid())"), "\(detail)")
        #expect(detail.contains(RunLock.hostName()), "\(detail)")
    }

    @Test("a truncated checkpoint file fails the quick check")
    func truncated() throws {
        let run = try CLIFixture.makeRun("preflight-truncated")
        try CLIFixture.truncate(run: run, step: 300, file: "model.safetensors")
        let (outcome, json) = try CLIFixture.json("preflight", run, "--json")
        #expect(outcome.status == 1, "\(outcome)")
        #expect(Self.check(json, "latest checkpoint")?["ok"]?.boolValue == false)
        #expect(Self.check(json, "latest checkpoint")?["detail"]?.stringValue?.contains("model.safetensors") == true)
    }

    @Test("a damaged safetensors header of the right size fails the quick check")
    func damagedHeader() throws {
        let run = try CLIFixture.makeRun("preflight-header")
        let path = CLIFixture.checkpoint(run, 300) + "/model.safetensors"
        var data = try Data(contentsOf: URL(fileURLWithPath: path))
        for i in 8..<16 { data[i] = 0xFF }
        try data.write(to: URL(fileURLWithPath: path))
        let (outcome, json) = try CLIFixture.json("preflight", run, "--json")
        #expect(outcome.status == 1, "\(outcome)")
        #expect(Self.check(json, "latest checkpoint")?["detail"]?.stringValue?.contains("header") == true)
    }

    @Test("a flipped byte passes the quick check and fails --full")
    func flipped() throws {
        let run = try CLIFixture.makeRun("preflight-flipped")
        try CLIFixture.flipByte(run: run, step: 300)
        #expect(try TestSupport.resumable("preflight", run).status == 0)
        let (outcome, json) = try CLIFixture.json("preflight", run, "--json", "--full")
        #expect(outcome.status == 1, "\(outcome)")
        #expect(Self.check(json, "latest checkpoint")?["ok"]?.boolValue == false)
        #expect(Self.check(json, "latest checkpoint")?["detail"]?.stringValue?.contains("step-000000000300") == true)
    }

    @Test("a damaged manifest fails the checkpoint check, not the command")
    func damagedManifest() throws {
        let run = try CLIFixture.makeRun("preflight-manifest")
        try Data("{".utf8).write(to: URL(fileURLWithPath: CLIFixture.checkpoint(run, 300) + "/manifest.json"))
        let (outcome, json) = try CLIFixture.json("preflight", run, "--json")
        #expect(outcome.status == 1, "\(outcome)")
        #expect(Self.check(json, "latest checkpoint")?["ok"]?.boolValue == false)
    }

    @Test("a config fingerprint that changed since the latest checkpoint fails the config check")
    func changedConfig() throws {
        let run = TestSupport.temporaryDirectory("preflight-config") + "/run"
        let store = try CheckpointStore(directory: run, access: .write, create: true)
        try store.updateRun { $0.configFingerprint = "sha256:aaaa" }
        try store.commit(step: 1) { draft in try draft.writeJSON(named: "state.json", ["step": 1]) }
        // This process holds the lock here, so only the config check is looked at.
        let (_, before) = try CLIFixture.json("preflight", run, "--json")
        #expect(Self.check(before, "config")?["ok"]?.boolValue == true)
        try store.updateRun { $0.configFingerprint = "sha256:bbbb" }
        store.close()
        let (outcome, json) = try CLIFixture.json("preflight", run, "--json")
        #expect(outcome.status == 1, "\(outcome)")
        let detail = Self.check(json, "config")?["detail"]?.stringValue ?? ""
        #expect(Self.check(json, "config")?["ok"]?.boolValue == false)
        #expect(detail.contains("sha256:aaaa") && detail.contains("sha256:bbbb"), "\(detail)")
    }

    @Test("bad usage and unreadable input keep their exit codes")
    func exitCodes() throws {
        let run = try CLIFixture.makeRun("preflight-codes")
        #expect(try TestSupport.resumable("preflight", run, "--keep", "0").status == 64)
        #expect(try TestSupport.resumable("preflight", run, "--expect-bytes", "-1").status == 64)
        #expect(try TestSupport.resumable("preflight", run + "/run.json").status == 64)
        try Data("{".utf8).write(to: URL(fileURLWithPath: run + "/run.json"))
        #expect(try TestSupport.resumable("preflight", run).status == 65)
    }
}
