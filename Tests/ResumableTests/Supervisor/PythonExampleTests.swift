import Foundation
import Resumable
import Testing

/// `Examples/python/train.py` under `resumable run`: killed again and again,
/// it ends with the same weights as a run that was never interrupted.
@Suite("Python example under resumable run")
struct PythonExampleTests {
    static var script: String { TestSupport.packageRoot + "/Examples/python/train.py" }

    static func finalSHA(_ run: String, step: Int64) throws -> String? {
        let checkpoint = try CheckpointStore(directory: run).checkpoint(step: step)
        return checkpoint.manifest.files.first { $0.name == "model.safetensors" }?.sha256
    }

    @Test("repeated SIGKILL of the child ends bit-identical to an uninterrupted run")
    func repeatedKills() throws {
        let dir = TestSupport.temporaryDirectory("sup-python")
        let steps: Int64 = 150
        let args = [TestSupport.python, Self.script, "--steps", "\(steps)", "--save-every", "10", "--seed", "3"]
        let env = ["RESUMABLE_BIN": TestSupport.resumable]

        let clean = try TestSupport.resumable("run", "--run-dir", dir + "/clean", "--", args[0], args[1], args[2], args[3], args[4], args[5], args[6], args[7], environment: env)
        #expect(clean.status == 0, "\(clean)")
        #expect(try SupervisorTestSupport.events(dir + "/clean", "start").count == 1)

        let run = dir + "/killed"
        let supervisor = try SupervisorTestSupport.background(
            ["run", "--run-dir", run, "--backoff", "0", "--max-restarts", "10", "--"] + args + ["--step-delay", "0.02"],
            directory: dir, environment: env)
        // Kill the child (SIGKILL, no chance to save) three times, each time after
        // it has committed a new checkpoint and is in the middle of more steps.
        var kills = 0
        var lastKilledAt: Int64 = -1
        let deadline = Date().addingTimeInterval(240)
        while kills < 3 && supervisor.isRunning && Date() < deadline {
            usleep(30_000)
            let steps = (try? CheckpointStore(directory: run).committedSteps()) ?? []
            guard let latest = steps.last, latest > lastKilledAt, latest < 120,
                let start = try SupervisorTestSupport.events(run, "start").last,
                let pid = start["pid"]?.intValue,
                start["resume_step"]?.intValue ?? -1 < latest
            else { continue }
            usleep(50_000)  // a few steps past the checkpoint
            if kill(Int32(pid), SIGKILL) == 0 {
                kills += 1
                lastKilledAt = latest
            }
        }
        let status = supervisor.wait(deadline: 240).status
        #expect(kills == 3)
        #expect(status == 0, "\(supervisor.stderr)")
        let fails = try SupervisorTestSupport.events(run, "fail")
        #expect(fails.count == 3 && fails.allSatisfy { $0["signal_name"]?.stringValue == "SIGKILL" })
        let starts = try SupervisorTestSupport.events(run, "start")
        #expect(starts.count == 4)
        #expect(starts.dropFirst().allSatisfy { ($0["resume_step"]?.intValue ?? 0) > 0 }, "every restart resumed from a checkpoint")
        let expected = try Self.finalSHA(dir + "/clean", step: steps)
        #expect(expected != nil)
        #expect(try Self.finalSHA(run, step: steps) == expected)
    }

    @Test("SIGTERM makes the script save at the next step and exit 75; running again finishes identically")
    func preemptAndResume() throws {
        let dir = TestSupport.temporaryDirectory("sup-python-term")
        let args = [TestSupport.python, Self.script, "--steps", "80", "--save-every", "40", "--seed", "5"]
        let env = ["RESUMABLE_BIN": TestSupport.resumable]
        let run = dir + "/run"
        let supervisor = try SupervisorTestSupport.background(
            ["run", "--run-dir", run, "--"] + args + ["--step-delay", "0.05"], directory: dir, environment: env)
        #expect(SupervisorTestSupport.waitForFile(run + "/checkpoints/step-000000000040"))
        supervisor.signal(SIGTERM)
        #expect(supervisor.wait(deadline: 120).status == 75, "\(supervisor.stderr)")
        let preempt = try SupervisorTestSupport.events(run, "preempt")
        #expect(preempt.first?["exit_code"]?.intValue == 75)
        let saved = try CheckpointStore(directory: run).committedSteps()
        #expect(saved.first == 40 && saved.last.map { $0 < 80 } == true, "\(saved)")
        let again = try TestSupport.run(TestSupport.resumable, ["run", "--run-dir", run, "--"] + args, environment: env)
        #expect(again.status == 0, "\(again)")
        let clean = try TestSupport.run(TestSupport.resumable, ["run", "--run-dir", dir + "/clean", "--"] + args, environment: env)
        #expect(clean.status == 0, "\(clean)")
        #expect(try Self.finalSHA(run, step: 80) == Self.finalSHA(dir + "/clean", step: 80))
    }
}
