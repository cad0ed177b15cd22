import Foundation
import Resumable
import Testing

@Suite("resumable preflight FILE")
struct CLIPipelinePreflightTests {
    static func check(_ json: JSONValue, _ name: String) -> JSONValue? { CLIPreflightTests.check(json, name) }
    static func detail(_ json: JSONValue, _ name: String) -> String { check(json, name)?["detail"]?.stringValue ?? "" }
    static func ok(_ json: JSONValue, _ name: String) -> Bool? { check(json, name)?["ok"]?.boolValue }

    /// Runs `resumable preflight ARGS…` with a deadline, so a hang fails the test instead of blocking it.
    static func preflight(_ arguments: [String], environment: [String: String] = [:], deadline: Double = 60) throws
        -> TestSupport.Outcome
    {
        let outcome = try TestSupport.run(TestSupport.resumable, ["preflight"] + arguments, environment: environment, deadline: deadline)
        #expect(!outcome.timedOut, "resumable preflight \(arguments) did not finish within \(deadline) s")
        return outcome
    }

    static func json(_ arguments: [String], environment: [String: String] = [:]) throws -> (TestSupport.Outcome, JSONValue) {
        let outcome = try preflight(arguments + ["--json"], environment: environment)
        return (outcome, try TestSupport.json(outcome.stdout))
    }

    @Test("a healthy pipeline passes: ok lines when piped, no ✓ and no escape codes, --json parses, exit 0")
    func healthy() throws {
        let f = try PipelinePreflightFixture(checks: ["- {name: shell works, command: \"echo hello\"}"])
        defer { f.remove() }
        try f.makeStageRun("operator")
        let text = try Self.preflight([f.file])
        #expect(text.status == 0, "\(text)")
        for name in ["disk space", "writable", "lock", "stage operator: latest checkpoint", "stage operator: config", "shell works"] {
            #expect(text.stdout.contains("ok   \(name)"), "\(text.stdout)")
        }
        #expect(text.stdout.contains("all 6 checks passed"), "\(text.stdout)")
        #expect(!text.stdout.contains("✓") && !text.stdout.contains("✗") && !text.stdout.contains("\u{1B}"), "\(text.stdout)")
        let (outcome, json) = try Self.json([f.file, "--full"])
        #expect(outcome.status == 0, "\(outcome)")
        #expect(json["ok"]?.boolValue == true)
        #expect(json["checks"]?.arrayValue?.compactMap { $0["name"]?.stringValue } == [
            "disk space", "writable", "lock", "stage operator: latest checkpoint", "stage operator: config", "shell works",
        ])
        #expect(Self.detail(json, "stage operator: latest checkpoint").contains("checksums verified"))
        // A directory is still a run: the stage's run directory is checked as one.
        let run = try Self.preflight([try f.stageDirectory("operator")])
        #expect(run.status == 0 && run.stdout.contains("ok   latest checkpoint"), "\(run)")
    }

    @Test("too little free space for the stages' checkpoints fails disk space (fault-injected statvfs)")
    func space() throws {
        let f = try PipelinePreflightFixture()
        defer { f.remove() }
        try f.makeStageRun("operator")
        let bytes = try f.latestBytes("operator")
        let (outcome, json) = try Self.json([f.file], environment: ["RESUMABLE_FAULT_FREE_BYTES": String(bytes * 5 - 1)])
        #expect(outcome.status == 1, "\(outcome)")
        #expect(json["ok"]?.boolValue == false)
        #expect(Self.ok(json, "disk space") == false)
        #expect(Self.detail(json, "disk space").contains("from stage operator's step-000000000200 × (3 kept + 2)"), "\(json)")
        #expect(Self.ok(json, "writable") == true)
        let enough = try Self.preflight([f.file], environment: ["RESUMABLE_FAULT_FREE_BYTES": String(bytes * 5)])
        #expect(enough.status == 0, "\(enough)")
        let text = try Self.preflight([f.file, "--expect-bytes", "1000"], environment: ["RESUMABLE_FAULT_FREE_BYTES": "10"])
        #expect(text.status == 1 && text.stdout.contains("FAIL disk space") && text.stdout.contains("1 of 5 checks failed"), "\(text)")
    }

    @Test("a real full file system (a 64 KiB tmpfs holding {run}) fails disk space")
    func fullTmpfs() throws {
        let ran = try CLIPreflightTests.withTmpfs("pipeline-preflight-full", options: "size=64k") { mount in
            let f = try PipelinePreflightFixture(run: mount + "/run")
            defer { f.remove() }
            let (outcome, json) = try Self.json([f.file, "--expect-bytes", "100000"])
            #expect(outcome.status == 1, "\(outcome)")
            #expect(Self.ok(json, "disk space") == false)
            #expect(Self.detail(json, "disk space").contains(mount), "\(json)")
            #expect(Self.ok(json, "writable") == true)
        }
        #expect(ran, "mount -t tmpfs failed: the test suite runs as root on Linux and needs it")
    }

    @Test("a read-only run directory (a ro tmpfs) fails writable")
    func readOnlyTmpfs() throws {
        let ran = try CLIPreflightTests.withTmpfs("pipeline-preflight-ro", options: "ro,size=64k") { mount in
            let f = try PipelinePreflightFixture(run: mount)
            defer { f.remove() }
            let (outcome, json) = try Self.json([f.file])
            #expect(outcome.status == 1, "\(outcome)")
            #expect(Self.ok(json, "writable") == false)
            #expect(Self.detail(json, "writable").contains("ead-only"), "\(json)")
            #expect(Self.ok(json, "disk space") == true)
        }
        #expect(ran, "mount -t tmpfs failed: the test suite runs as root on Linux and needs it")
    }

    @Test("a live holder of {run}/.lock (this test process) fails the lock check, naming its pid and host")
    func liveLock() throws {
        let f = try PipelinePreflightFixture()
        defer { f.remove() }
        let run = try f.runDirectory()
        try FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true)
        let lock = try RunLock.acquire(directory: run)
        defer { lock.release() }
        let (outcome, json) = try Self.json([f.file])
        #expect(outcome.status == 1, "\(outcome)")
        #expect(Self.ok(json, "lock") == false)
        #expect(Self.detail(json, "lock").contains("pid \(getpid())") && Self.detail(json, "lock").contains(RunLock.hostName()), "\(json)")
        lock.release()
        let (free, freeJSON) = try Self.json([f.file])
        #expect(free.status == 0 && Self.detail(freeJSON, "lock") == "free", "\(free)")
    }

    @Test("a corrupted stage checkpoint: a flipped byte fails --full, a truncated file fails the quick check")
    func corruptedStage() throws {
        let f = try PipelinePreflightFixture()
        defer { f.remove() }
        let op = try f.makeStageRun("operator")
        try CLIFixture.flipByte(run: op, step: 200)
        #expect(try Self.preflight([f.file]).status == 0)
        let (outcome, json) = try Self.json([f.file, "--full"])
        #expect(outcome.status == 1, "\(outcome)")
        #expect(Self.ok(json, "stage operator: latest checkpoint") == false)
        #expect(Self.detail(json, "stage operator: latest checkpoint").contains("step-000000000200"), "\(json)")
        #expect(Self.ok(json, "stage operator: config") == true)
        try CLIFixture.truncate(run: op, step: 200, file: "model.safetensors")
        let text = try Self.preflight([f.file])
        #expect(text.status == 1 && text.stdout.contains("FAIL stage operator: latest checkpoint"), "\(text)")
    }

    @Test("a stage whose config changed since its latest checkpoint fails its config check")
    func changedConfig() throws {
        let f = try PipelinePreflightFixture()
        defer { f.remove() }
        let ev = try f.makeStageRun("evaluate", config: "sha256:aaaa")
        let store = try CheckpointStore(directory: ev, access: .write)
        try store.updateRun { $0.configFingerprint = "sha256:bbbb" }
        store.close()
        let (outcome, json) = try Self.json([f.file])
        #expect(outcome.status == 1, "\(outcome)")
        #expect(Self.ok(json, "stage evaluate: config") == false)
        #expect(Self.detail(json, "stage evaluate: config").contains("sha256:aaaa"), "\(json)")
        #expect(Self.ok(json, "stage evaluate: latest checkpoint") == true)
    }

    @Test("the user's checks: passing, failing with its output's tail shown, a command not found; all run")
    func userChecks() throws {
        let f = try PipelinePreflightFixture(checks: [
            "- {name: torch imports, command: \"echo Traceback; echo '  File x'; echo 'ModuleNotFoundError: torch' >&2; exit 1\"}",
            "- {name: passes, command: [\"true\"]}",
            "- {name: no such program, command: [\"resumable-no-such-program-y\", \"--version\"]}",
            "- {name: no such command, command: \"resumable-no-such-program-y --version\"}",
            "- {name: escapes, command: \"printf '\\\\033]0;title\\\\007\\\\n'; exit 2\"}",
        ])
        defer { f.remove() }
        let text = try Self.preflight([f.file])
        #expect(text.status == 1, "\(text)")
        let lines = text.stdout.split(separator: "\n").map(String.init)
        let failing = try #require(lines.firstIndex { $0.hasPrefix("FAIL torch imports") }, "\(text.stdout)")
        #expect(lines[failing].hasSuffix("  exit 1"), "\(lines[failing])")
        // The output's last lines follow, indented to the detail column.
        let column = lines[failing].range(of: "exit 1")!.lowerBound.utf16Offset(in: lines[failing])
        #expect(lines[failing + 1] == String(repeating: " ", count: column) + "Traceback", "\(text.stdout)")
        #expect(lines[failing + 3] == String(repeating: " ", count: column) + "ModuleNotFoundError: torch", "\(text.stdout)")
        #expect(text.stdout.contains("ok   passes"))
        #expect(text.stdout.contains("4 of 9 checks failed"), "\(text.stdout)")
        #expect(!text.stdout.contains("\u{1B}") && !text.stdout.contains("\u{07}"), "\(text.stdout)")
        let (outcome, json) = try Self.json([f.file])
        #expect(outcome.status == 1)
        #expect(Self.detail(json, "torch imports") == "exit 1\nTraceback\n  File x\nModuleNotFoundError: torch", "\(json)")
        #expect(Self.detail(json, "no such program").hasPrefix("cannot start: resumable-no-such-program-y: No such file or directory (the command at \(f.file):"), "\(json)")
        #expect(Self.detail(json, "no such command").hasPrefix("exit 127\n"), "\(json)")
        #expect(Self.detail(json, "escapes") == "exit 2\n\\x1b]0;title\\x07", "\(json)")
    }

    @Test("a check that does not end is stopped at --check-timeout, even when a grandchild holds its output open")
    func timeouts() throws {
        let f = try PipelinePreflightFixture(checks: [
            "- {name: sleeps, command: \"sleep 62.201\"}",
            "- {name: grandchild, command: \"sleep 62.202 & sleep 62.203\"}",
            "- {name: after, command: \"echo fine\"}",
        ])
        defer { f.remove() }
        let start = Date()
        let (outcome, json) = try Self.json([f.file, "--check-timeout", "1"])
        let elapsed = Date().timeIntervalSince(start)
        #expect(outcome.status == 1, "\(outcome)")
        #expect(elapsed < 8, "two 1 s timeouts took \(elapsed) s")
        #expect(Self.detail(json, "sleeps") == "timed out after 1s", "\(json)")
        #expect(Self.detail(json, "grandchild") == "timed out after 1s", "\(json)")
        #expect(Self.ok(json, "after") == true)
        #expect(PipelinePreflightFixture.noProcesses(containing: "62.20"), "left \(PipelinePreflightFixture.processes(containing: "62.20"))")
    }

    @Test("a bad pipeline file exits 64 or 65 with FILE:LINE:COLUMN; bad options 64; a missing .yaml 66")
    func badFiles() throws {
        let directory = TestSupport.temporaryDirectory("pipeline-preflight-bad")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let usage = directory + "/usage.yaml"
        try Data("name: x\nrun: r\nstages:\n  - name: a\n    command: a\n    colour: blue\n".utf8).write(to: URL(fileURLWithPath: usage))
        let u = try Self.preflight([usage])
        #expect(u.status == 64 && u.stderr.contains("usage.yaml:6:5"), "\(u)")
        let syntax = directory + "/pipeline"  // no extension: a regular file is a pipeline file
        try Data("name: x\nrun: [r\n".utf8).write(to: URL(fileURLWithPath: syntax))
        let s = try Self.preflight([syntax])
        #expect(s.status == 65 && s.stderr.contains("pipeline:"), "\(s)")
        #expect(try Self.preflight([directory + "/missing.yml"]).status == 66)
        // A run's run.json is named for what it is, not parsed as a pipeline file.
        let run = try CLIFixture.makeRun("pipeline-preflight-runjson")
        let r = try Self.preflight([run + "/run.json"])
        #expect(r.status == 64 && r.stderr.contains("not a pipeline file; give the run directory"), "\(r)")
        let good = try PipelinePreflightFixture()
        defer { good.remove() }
        #expect(try Self.preflight([good.file, "--check-timeout", "0"]).status == 64)
        #expect(try Self.preflight([good.file, "--check-timeout", "-3"]).status == 64)
    }
}
