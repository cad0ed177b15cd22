import Foundation
import Resumable
import Testing

/// The design's "`resumable run` contract", variable by variable.
@Suite("resumable run: the child's environment")
struct SupervisorEnvironmentTests {
    /// `KEY=VALUE` lines of a file written by `env`.
    static func readEnv(_ path: String) throws -> [String: String] {
        var result: [String: String] = [:]
        for line in try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n") {
            guard let eq = line.firstIndex(of: "=") else { continue }
            result[String(line[..<eq])] = String(line[line.index(after: eq)...])
        }
        return result
    }

    @Test("fresh start, then resume from the checkpoint the first attempt committed; paths absolute")
    func contract() throws {
        let dir = TestSupport.temporaryDirectory("sup-env")
        let run = dir + "/run"
        let source = dir + "/ckpt"
        try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
        try "{}".write(toFile: source + "/state.json", atomically: true, encoding: .utf8)
        let child = try SupervisorTestSupport.script(
            dir, "child.sh",
            """
            env > \(dir)/env-$RESUMABLE_ATTEMPT.txt
            if [ "$RESUMABLE_ATTEMPT" = 1 ]; then
              "$RESUMABLE_BIN" commit "$RESUMABLE_RUN_DIR" --step 5 \(source) || exit 2
              exit 1
            fi
            exit 0
            """)
        // A relative --run-dir: every path the child gets is absolute all the same.
        let outcome = try TestSupport.run(
            TestSupport.resumable, ["run", "--run-dir", "run", "--backoff", "0", "--", child],
            environment: ["RESUMABLE_BIN": TestSupport.resumable, "WANDB_RUN_ID": "", "WANDB_RESUME": "", "MLFLOW_RUN_ID": ""],
            directory: dir)
        #expect(outcome.status == 0, "\(outcome)")
        let id = try CheckpointStore(directory: run).run.id
        #expect(!id.isEmpty)
        let first = try Self.readEnv(dir + "/env-1.txt")
        let second = try Self.readEnv(dir + "/env-2.txt")
        let absoluteRun = URL(fileURLWithPath: run).standardizedFileURL.path
        #expect(first["RESUMABLE_RUN_DIR"] == absoluteRun)
        #expect(first["RESUMABLE_RUN_ID"] == id)
        #expect(first["RESUMABLE_ATTEMPT"] == "1")
        #expect(first["RESUMABLE_RESUME_FROM"] == "")
        #expect(first["RESUMABLE_RESUME_STEP"] == "")
        #expect(first["WANDB_RUN_ID"] == id)
        #expect(first["WANDB_RESUME"] == "allow")
        #expect(first["MLFLOW_RUN_ID"] == "", "no MLflow run is known")
        #expect(!(first["RESUMABLE_LOCK_TOKEN"] ?? "").isEmpty)
        #expect(second["RESUMABLE_RUN_DIR"] == absoluteRun)
        #expect(second["RESUMABLE_RUN_ID"] == id)
        #expect(second["RESUMABLE_ATTEMPT"] == "2")
        #expect(second["RESUMABLE_RESUME_FROM"] == absoluteRun + "/checkpoints/step-000000000005")
        #expect(second["RESUMABLE_RESUME_STEP"] == "5")
        #expect(second["WANDB_RUN_ID"] == id)
        let starts = try SupervisorTestSupport.events(run, "start")
        #expect(starts.last?["resume_step"]?.intValue == 5)
        #expect(try SupervisorTestSupport.events(run, "fail").first?["step"]?.intValue == 5, "checkpoint reached")
    }

    @Test("WANDB_RUN_ID and WANDB_RESUME set by the user are kept; MLFLOW_RUN_ID comes from run.json")
    func userTrackerVariablesWin() throws {
        let dir = TestSupport.temporaryDirectory("sup-env-user")
        let run = dir + "/run"
        do {
            let store = try CheckpointStore(directory: run, access: .write, create: true)
            try store.updateRun { $0.trackers["mlflow"] = "0123456789abcdef0123456789abcdef" }
        }
        let child = try SupervisorTestSupport.script(dir, "child.sh", "env > \(dir)/env.txt")
        let outcome = try TestSupport.resumable(
            "run", "--run-dir", run, "--", child,
            environment: ["WANDB_RUN_ID": "my-own-id", "WANDB_RESUME": "must", "MLFLOW_RUN_ID": ""])
        #expect(outcome.status == 0, "\(outcome)")
        let env = try Self.readEnv(dir + "/env.txt")
        #expect(env["WANDB_RUN_ID"] == "my-own-id")
        #expect(env["WANDB_RESUME"] == "must")
        #expect(env["MLFLOW_RUN_ID"] == "0123456789abcdef0123456789abcdef")
    }

    @Test("attempt numbers continue across supervisors; the run id stays")
    func attemptsContinue() throws {
        let dir = TestSupport.temporaryDirectory("sup-env-again")
        let run = dir + "/run"
        let child = try SupervisorTestSupport.script(dir, "child.sh", "echo $RESUMABLE_ATTEMPT $RESUMABLE_RUN_ID >> \(dir)/seen.txt")
        #expect(try TestSupport.resumable("run", "--run-dir", run, "--", child).status == 0)
        #expect(try TestSupport.resumable("run", "--run-dir", run, "--", child).status == 0)
        let lines = try String(contentsOfFile: dir + "/seen.txt", encoding: .utf8).split(separator: "\n").map {
            $0.split(separator: " ").map(String.init)
        }
        #expect(lines.map { $0[0] } == ["1", "2"])
        #expect(lines[0][1] == lines[1][1])
    }

    @Test("a corrupt latest checkpoint is passed over: the child resumes from the newest good one")
    func resumesFromNewestGoodCheckpoint() throws {
        let dir = TestSupport.temporaryDirectory("sup-env-corrupt")
        let run = dir + "/run"
        do {
            let store = try CheckpointStore(directory: run, access: .write, create: true)
            for step in [10, 20] as [Int64] {
                try store.commit(step: step) { try $0.writeFile(named: "state.json", bytes: Array("{\"step\":\(step)}".utf8)) }
            }
        }
        // Damage step 20 after its commit.
        try "{\"step\":99}".write(toFile: run + "/checkpoints/step-000000000020/state.json", atomically: false, encoding: .utf8)
        let child = try SupervisorTestSupport.script(dir, "child.sh", "echo $RESUMABLE_RESUME_STEP > \(dir)/step.txt")
        let outcome = try TestSupport.resumable("run", "--run-dir", run, "--", child)
        #expect(outcome.status == 0, "\(outcome)")
        #expect(try String(contentsOfFile: dir + "/step.txt", encoding: .utf8) == "10\n")
    }
}
