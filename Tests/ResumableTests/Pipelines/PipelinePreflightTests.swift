import Foundation
@testable import Pipelines
import Resumable
import Testing

@Suite("PipelinePreflight: a pipeline's checks and the user's own")
struct PipelinePreflightTests {
    static func check(_ checks: [Preflight.Check], _ name: String) -> Preflight.Check? {
        checks.first { $0.name == name }
    }

    @Test("a new pipeline: run-directory checks, one stages line, the user's checks in order, all run after a failure")
    func newPipeline() throws {
        let f = try PipelinePreflightFixture(checks: [
            "- {name: fails first, command: \"echo nope; exit 4\"}",
            "- {name: where, command: 'test \"$(pwd -P)\" = \"$(cd \"$0\" && pwd -P)\" && test \"$RESUMABLE_PIPELINE_RUN_DIR\" = \"$1\"'}",
            "- name: argv form\n    command: [\"/bin/sh\", \"-c\", \"read x || exit 0; exit 9\"]",
        ])
        defer { f.remove() }
        // The `where` check compares the working directory with the file's and the env with {run}.
        var spec = try f.spec()
        let absoluteRun = try f.runDirectory()
        spec.preflight[1].command = .arguments(["/bin/sh", "-c", try #require(spec.preflight[1].command.argv.last), f.directory, absoluteRun])
        let checks = try PipelinePreflight.run(spec: spec, options: .init())
        #expect(checks.map(\.name) == ["disk space", "writable", "lock", "stages", "fails first", "where", "argv form"])
        #expect(checks.map(\.ok) == [true, true, true, true, false, true, true], "\(checks)")
        #expect(Self.check(checks, "stages")?.detail == "no stage has a checkpoint yet (2 stages)")
        #expect(Self.check(checks, "fails first")?.detail == "exit 4\nnope")
        #expect(Self.check(checks, "where")?.detail.hasPrefix("exit 0") == true)
        #expect(Self.check(checks, "disk space")?.detail.contains("no checkpoint yet to size against") == true)
        // {run} does not exist: the file's directory is probed, nothing is created.
        #expect(Self.check(checks, "writable")?.detail.hasPrefix(f.directory) == true)
        #expect(!FileManager.default.fileExists(atPath: f.directory + "/runs"))
    }

    @Test("stages with checkpoints: each gets latest checkpoint and config; disk space is sized by the largest")
    func stagesWithCheckpoints() throws {
        let f = try PipelinePreflightFixture()
        defer { f.remove() }
        try f.makeStageRun("operator", steps: [100, 200])
        try f.makeStageRun("evaluate", steps: [7])
        // A stage directory without checkpoints is not listed.
        try FileManager.default.createDirectory(atPath: f.directory + "/runs/pf/stages/other", withIntermediateDirectories: true)
        let checks = try PipelinePreflight.run(spec: try f.spec(), options: .init(full: true))
        #expect(checks.map(\.name) == [
            "disk space", "writable", "lock", "stage operator: latest checkpoint", "stage operator: config",
            "stage evaluate: latest checkpoint", "stage evaluate: config",
        ])
        #expect(checks.filter { !$0.ok }.isEmpty, "\(checks)")
        #expect(Self.check(checks, "stage operator: latest checkpoint")?.detail.contains("step-000000000200") == true)
        #expect(Self.check(checks, "stage operator: latest checkpoint")?.detail.contains("checksums verified") == true)
        #expect(Self.check(checks, "disk space")?.detail.contains("from stage ") == true)
        #expect(Self.check(checks, "writable")?.detail == f.directory + "/runs/pf")
    }

    @Test("a damaged stage checkpoint and a changed stage config fail their stage's checks, not the others")
    func damagedStage() throws {
        let f = try PipelinePreflightFixture()
        defer { f.remove() }
        let op = try f.makeStageRun("operator")
        let ev = try f.makeStageRun("evaluate")
        try CLIFixture.truncate(run: op, step: 200, file: "model.safetensors")
        let store = try CheckpointStore(directory: ev, access: .write)
        try store.updateRun { $0.configFingerprint = "sha256:bbbb" }
        store.close()
        let checks = try PipelinePreflight.run(spec: try f.spec(), options: .init())
        #expect(Self.check(checks, "stage operator: latest checkpoint")?.ok == false)
        #expect(Self.check(checks, "stage operator: latest checkpoint")?.detail.contains("model.safetensors") == true)
        #expect(Self.check(checks, "stage operator: config")?.ok == true)
        #expect(Self.check(checks, "stage evaluate: latest checkpoint")?.ok == true)
        let config = try #require(Self.check(checks, "stage evaluate: config"))
        #expect(!config.ok && config.detail.contains("sha256:aaaa") && config.detail.contains("sha256:bbbb"), "\(config)")
        // A damaged run.json of a stage fails that stage's check instead of stopping preflight.
        try Data("{".utf8).write(to: URL(fileURLWithPath: ev + "/run.json"))
        let again = try PipelinePreflight.run(spec: try f.spec(), options: .init())
        #expect(Self.check(again, "stage evaluate: latest checkpoint")?.ok == false)
        #expect(Self.check(again, "disk space")?.ok == true)
    }

    @Test("the lock: held by this process passes (pipeline run checks after taking it)")
    func lockHeldByThisProcess() throws {
        let f = try PipelinePreflightFixture()
        defer { f.remove() }
        let run = try f.runDirectory()
        try FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true)
        let lock = try RunLock.acquire(directory: run)
        defer { lock.release() }
        let checks = try PipelinePreflight.run(spec: try f.spec(), options: .init())
        let check = try #require(Self.check(checks, "lock"))
        #expect(check.ok && check.detail == "held by this process (pid \(getpid()))", "\(check)")
    }

    @Test("a run path that is a file, and a bad timeout, are usage errors")
    func usage() throws {
        let f = try PipelinePreflightFixture(run: "notadir")
        defer { f.remove() }
        try Data("x".utf8).write(to: URL(fileURLWithPath: f.directory + "/notadir"))
        #expect(throws: ResumableError.self) { try PipelinePreflight.run(spec: try f.spec(), options: .init()) }
        let g = try PipelinePreflightFixture()
        defer { g.remove() }
        #expect(throws: ResumableError.self) { try PipelinePreflight.run(spec: try g.spec(), options: .init(), checkTimeout: 0) }
        #expect(throws: ResumableError.self) { try PipelinePreflight.run(spec: try g.spec(), options: .init(), checkTimeout: .nan) }
    }

    static func user(_ command: StageCommand, timeout: Double = 300, directory: String = "/") -> Preflight.Check {
        var spec = PipelineSpec(
            name: "x", run: "r", stages: [StageSpec(name: "a", command: .shell("true"))], preflight: [],
            baseDirectory: directory, file: "/p.yaml")
        spec.preflight = [PreflightCheck(name: "c", command: command, location: SourceLocation(file: "p.yaml", line: 3, column: 14))]
        return PipelinePreflight.runUserCheck(spec.preflight[0], spec: spec, environment: ["PATH": "/usr/bin:/bin"], timeout: timeout)
    }

    @Test("a failed check shows how it ended and its last 3 non-blank lines, control characters escaped")
    func failures() throws {
        let tail = Self.user(.shell("echo one; echo two >&2; echo three; echo; printf 'four\\tx\\n'; printf '\\033[31mred\\r\\n\\n'; exit 3"))
        #expect(!tail.ok)
        #expect(tail.detail == "exit 3\nthree\nfour\\x09x\n\\x1b[31mred", "\(tail.detail)")
        let killed = Self.user(.shell("echo dying; kill -9 $$"))
        #expect(killed.detail == "killed by SIGKILL\ndying", "\(killed.detail)")
        let missing = Self.user(.arguments(["resumable-no-such-program-x"]))
        #expect(missing.detail == "cannot start: resumable-no-such-program-x: No such file or directory (the command at p.yaml:3:14)", "\(missing.detail)")
        let shellMissing = Self.user(.shell("resumable-no-such-program-x --flag"))
        #expect(shellMissing.detail.hasPrefix("exit 127\n") && shellMissing.detail.contains("not found"), "\(shellMissing.detail)")
        let noDirectory = Self.user(.shell("true"), directory: "/nonexistent-dir-x")
        #expect(noDirectory.detail.hasPrefix("cannot start: cannot enter /nonexistent-dir-x: No such file or directory"), "\(noDirectory.detail)")
        let stdin = Self.user(.shell("cat; echo read-nothing"))
        #expect(stdin.ok, "stdin is /dev/null, so cat ends at once: \(stdin.detail)")
    }

    @Test("timeouts never block: SIGTERM to the group, SIGKILL 2 s later, a grandchild holding the pipe is killed")
    func timeouts() throws {
        let cases: [(StageCommand, String, ClosedRange<Double>)] = [
            (.shell("echo started; sleep 61.101"), "61.101", 0.9...6),
            (.shell("sleep 61.102 & sleep 61.103"), "61.10", 0.9...6),
            // SIGTERM is ignored by the shell and the sleep it starts: SIGKILL 2 s later.
            (.shell("trap '' TERM; sleep 61.104; echo never"), "61.104", 2.9...8),
        ]
        for (command, marker, range) in cases {
            let start = Date()
            let check = Self.user(command, timeout: 1)
            let elapsed = Date().timeIntervalSince(start)
            #expect(!check.ok)
            #expect(check.detail.hasPrefix("timed out after 1s"), "\(check.detail)")
            #expect(range.contains(elapsed), "\(command): \(elapsed) s")
            #expect(PipelinePreflightFixture.noProcesses(containing: marker), "\(command) left \(PipelinePreflightFixture.processes(containing: marker))")
        }
        let started = Self.user(.shell("echo started; sleep 61.105"), timeout: 0.5)
        #expect(started.detail == "timed out after 0.5s\nstarted", "\(started.detail)")
        // It passed, and left a process holding its output: killed 1 s after it exited.
        let start = Date()
        let leftover = Self.user(.shell("(sleep 61.106 &); echo done"))
        #expect(leftover.ok && leftover.detail.hasSuffix("; killed the processes it left holding its output"), "\(leftover.detail)")
        #expect(Date().timeIntervalSince(start) < 6)
        #expect(PipelinePreflightFixture.noProcesses(containing: "61.106"))
    }

    @Test("captured output is bounded: the last 64 KiB are kept")
    func boundedOutput() throws {
        let result = CapturedCommand.run(
            ["/bin/sh", "-c", "head -c 3000000 /dev/zero | tr '\\0' x; echo; echo last"], environment: ["PATH": "/usr/bin:/bin"],
            directory: "/", timeout: 60)
        #expect(result.ending == .exited(0))
        #expect(result.output.count == CapturedCommand.outputLimit)
        #expect(result.lastLines(1) == ["last"])
        let long = result.lastLines(2)
        #expect(long.first?.hasSuffix("…") == true && long.first?.count == 301)
    }

    @Test("the seconds of a timeout are written without noise")
    func secondsText() {
        #expect(PipelinePreflight.seconds(300) == "300s")
        #expect(PipelinePreflight.seconds(1) == "1s")
        #expect(PipelinePreflight.seconds(0.5) == "0.5s")
        #expect(PipelinePreflight.seconds(1.234) == "1.23s")
    }
}
