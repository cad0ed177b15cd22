import Foundation
import Resumable
import Testing

/// `resumable run --requeue` under Slurm: a preemption signal makes the
/// supervisor stop the job and run `scontrol requeue`, and the job comes back
/// and resumes from its checkpoint.
@Suite("resumable run under Slurm")
struct SlurmRequeueTests {
    /// `SLURM_CONF` of the local cluster `scripts/test.sh` started, or of one
    /// started now (`startedHere`: the caller stops it, so it does not hold
    /// the Slurm ports after the test).
    static func slurmConf() throws -> (conf: String, startedHere: Bool) {
        if let conf = ProcessInfo.processInfo.environment["SLURM_CONF"], FileManager.default.fileExists(atPath: conf) {
            return (conf, false)
        }
        let started = try TestSupport.run(TestSupport.packageRoot + "/scripts/slurm-local.sh", ["start"])
        guard started.status == 0, let line = started.stdout.split(separator: "\n").last(where: { $0.hasPrefix("export SLURM_CONF=") })
        else { throw ResumableError(.io, "scripts/slurm-local.sh start failed: \(started)") }
        return (String(line.dropFirst("export SLURM_CONF=".count)), true)
    }

    static func waitUntil(_ limit: Double, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(limit)
        while Date() < deadline {
            if condition() { return true }
            usleep(200_000)
        }
        return condition()
    }

    @Test("a real Slurm job: USR1 → scontrol requeue → the job runs again (SLURM_RESTART_COUNT=1) and resumes")
    func realRequeue() throws {
        let (conf, startedHere) = try Self.slurmConf()
        defer {
            if startedHere { _ = try? TestSupport.run(TestSupport.packageRoot + "/scripts/slurm-local.sh", ["stop"]) }
        }
        let env = ["SLURM_CONF": conf, "RESUMABLE_BIN": TestSupport.resumable]
        let dir = TestSupport.temporaryDirectory("sup-slurm")
        let run = dir + "/run"
        let child = try SupervisorTestSupport.script(
            dir, "child.sh",
            """
            echo "attempt=$RESUMABLE_ATTEMPT restart=${SLURM_RESTART_COUNT:-none} resume=$RESUMABLE_RESUME_STEP" >> \(dir)/seen.txt
            if [ -n "$RESUMABLE_RESUME_STEP" ]; then exit 0; fi
            mkdir -p \(dir)/src && echo '{"step": 1}' > \(dir)/src/state.json
            "$RESUMABLE_BIN" commit "$RESUMABLE_RUN_DIR" --step 1 \(dir)/src || exit 2
            trap 'exit 75' USR1 TERM
            touch \(dir)/ready
            while :; do sleep 0.2; done
            """)
        let job = try SupervisorTestSupport.script(
            dir, "job.sh",
            "exec \(TestSupport.resumable) run --run-dir \(run) --requeue --preempt-signal USR1 --grace 20 -- \(child)")
        let submitted = try TestSupport.run(
            "/usr/bin/env", ["sbatch", "--parsable", "--requeue", "--open-mode=append", "-o", dir + "/job.out", "-J", "resumable-test", job],
            environment: env)
        #expect(submitted.status == 0, "\(submitted)")
        let jobID = submitted.stdout.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) } ?? ""
        defer { _ = try? TestSupport.run("/usr/bin/env", ["scancel", jobID], environment: env) }
        #expect(SupervisorTestSupport.waitForFile(dir + "/ready", limit: 60), "the job did not start")
        let signalled = try TestSupport.run("/usr/bin/env", ["scancel", "-b", "-s", "USR1", jobID], environment: env)
        #expect(signalled.status == 0, "\(signalled)")
        let seen = { (try? String(contentsOfFile: dir + "/seen.txt", encoding: .utf8)) ?? "" }
        let cameBack = Self.waitUntil(90) {
            seen().contains("restart=1") && ((try? SupervisorTestSupport.events(run, "finish").count) ?? 0) == 1
        }
        let log = (try? String(contentsOfFile: dir + "/job.out", encoding: .utf8)) ?? ""
        #expect(cameBack, "the job did not come back: \(seen())\n\(log)")
        #expect(seen() == "attempt=1 restart=none resume=\nattempt=2 restart=1 resume=1\n")

        let events = try SupervisorTestSupport.events(run)
        let names = events.compactMap { $0["event"]?.stringValue }.filter { $0 != "save" }
        #expect(names == ["start", "preempt", "requeue", "start", "finish"], "\(names)")
        let preempt = try SupervisorTestSupport.events(run, "preempt").first
        #expect(preempt?["received_signal"]?.stringValue == "SIGUSR1" && preempt?["exit_code"]?.intValue == 75)
        let requeue = try SupervisorTestSupport.events(run, "requeue").first
        #expect(requeue?["job_id"]?.stringValue == jobID && requeue?["exit_code"]?.intValue == 0)
        let starts = try SupervisorTestSupport.events(run, "start")
        #expect(starts.map { $0["slurm_restart_count"]?.intValue } == [0, 1])
        #expect(starts.last?["resume_step"]?.intValue == 1)
        let state = try TestSupport.run("/usr/bin/env", ["scontrol", "show", "job", jobID], environment: env)
        #expect(state.stdout.contains("Restarts=1"), "\(state.stdout)")
    }

    @Test("the requeue command: `scontrol requeue $SLURM_JOB_ID` (a recording scontrol on PATH)")
    func requeueCommand() throws {
        let dir = TestSupport.temporaryDirectory("sup-fake-scontrol")
        try FileManager.default.createDirectory(atPath: dir + "/bin", withIntermediateDirectories: true)
        _ = try SupervisorTestSupport.script(dir + "/bin", "scontrol", "echo \"$@\" >> \(dir)/scontrol.args")
        let child = try SupervisorTestSupport.script(dir, "child.sh", "touch \(dir)/ready; while :; do sleep 0.1; done")
        let path = dir + "/bin:" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
        let supervisor = try SupervisorTestSupport.background(
            ["run", "--run-dir", dir + "/run", "--requeue", "--grace", "5", "--", child], directory: dir,
            environment: ["SLURM_JOB_ID": "4242", "PATH": path])
        #expect(SupervisorTestSupport.waitForFile(dir + "/ready"))
        supervisor.signal(SIGTERM)
        #expect(supervisor.wait(deadline: 120).status == 75, "\(supervisor.stderr)")
        #expect(try String(contentsOfFile: dir + "/scontrol.args", encoding: .utf8) == "requeue 4242\n")
        let requeue = try SupervisorTestSupport.events(dir + "/run", "requeue")
        #expect(requeue.count == 1 && requeue.first?["exit_code"]?.intValue == 0)
        #expect(supervisor.stderr.contains("requeued"))
    }
}
