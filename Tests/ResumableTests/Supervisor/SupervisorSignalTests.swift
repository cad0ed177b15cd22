import Foundation
import Resumable
import Testing

/// Signals to `resumable run` reach the job's whole process group; a job that
/// ignores them is killed after the grace period; the supervisor exits 75.
@Suite("resumable run: signals")
struct SupervisorSignalTests {
    @Test("a child that ignores SIGTERM is killed after the grace period; the supervisor exits 75")
    func ignoresSigterm() throws {
        let dir = TestSupport.temporaryDirectory("sup-ignore")
        let child = try SupervisorTestSupport.script(
            dir, "child.sh", "trap '' TERM; touch \(dir)/ready; while :; do sleep 0.1; done")
        let run = dir + "/run"
        let supervisor = try SupervisorTestSupport.background(
            ["run", "--run-dir", run, "--grace", "1", "--", child], directory: dir)
        #expect(SupervisorTestSupport.waitForFile(dir + "/ready"))
        supervisor.signal(SIGTERM)
        let status = supervisor.wait(deadline: 120).status
        #expect(status == 75, "\(supervisor.stderr)")
        let preempt = try SupervisorTestSupport.events(run, "preempt")
        #expect(preempt.count == 1)
        #expect(preempt.first?["killed"]?.boolValue == true)
        #expect(preempt.first?["signal_name"]?.stringValue == "SIGKILL")
        #expect(preempt.first?["received_signal"]?.stringValue == "SIGTERM")
        #expect(try SupervisorTestSupport.events(run, "start").count == 1, "a stopped job is not restarted")
        let pid = Int32(try SupervisorTestSupport.events(run, "start").first?["pid"]?.intValue ?? 0)
        #expect(pid > 0 && kill(-pid, 0) != 0, "nothing of the child's group survives")
    }

    @Test("the signal reaches grandchildren through the process group")
    func forwardsToGrandchildren() throws {
        let dir = TestSupport.temporaryDirectory("sup-group")
        // The grandchild records the signal it gets; the child waits for it.
        let child = try SupervisorTestSupport.script(
            dir, "child.sh",
            """
            sh -c 'trap "echo USR1 > \(dir)/grandchild.txt; exit 0" USR1; touch \(dir)/ready; while :; do sleep 0.1; done' &
            trap 'echo USR1 > \(dir)/child.txt' USR1
            wait; wait
            exit 75
            """)
        let run = dir + "/run"
        let supervisor = try SupervisorTestSupport.background(
            ["run", "--run-dir", run, "--preempt-signal", "USR1", "--grace", "30", "--", child], directory: dir)
        #expect(SupervisorTestSupport.waitForFile(dir + "/ready"))
        supervisor.signal(SIGUSR1)
        let status = supervisor.wait(deadline: 120).status
        #expect(status == 75, "\(supervisor.stderr)")
        #expect((try? String(contentsOfFile: dir + "/grandchild.txt", encoding: .utf8)) == "USR1\n")
        #expect((try? String(contentsOfFile: dir + "/child.txt", encoding: .utf8)) == "USR1\n")
        let preempt = try SupervisorTestSupport.events(run, "preempt")
        #expect(preempt.first?["received_signal"]?.stringValue == "SIGUSR1")
        #expect(preempt.first?["exit_code"]?.intValue == 75)
        #expect(preempt.first?["killed"] == nil, "the job ended by itself within the grace period")
    }

    @Test("a second signal kills the job at once")
    func secondSignalKills() throws {
        let dir = TestSupport.temporaryDirectory("sup-second")
        let child = try SupervisorTestSupport.script(
            dir, "child.sh", "trap 'touch \(dir)/got-int' INT; touch \(dir)/ready; while :; do sleep 0.1; done")
        let run = dir + "/run"
        let supervisor = try SupervisorTestSupport.background(
            ["run", "--run-dir", run, "--grace", "600", "--", child], directory: dir)
        #expect(SupervisorTestSupport.waitForFile(dir + "/ready"))
        supervisor.signal(SIGINT)
        #expect(SupervisorTestSupport.waitForFile(dir + "/got-int"))
        supervisor.signal(SIGINT)
        // With a 600 s grace period only the second signal can end this within the wait limit.
        let status = supervisor.wait(deadline: 300).status
        #expect(status == 75, "\(supervisor.stderr)")
        #expect(try SupervisorTestSupport.events(run, "preempt").first?["killed"]?.boolValue == true)
    }

    @Test("--requeue outside Slurm says so and exits 75")
    func requeueWithoutSlurm() throws {
        let dir = TestSupport.temporaryDirectory("sup-noslurm")
        let child = try SupervisorTestSupport.script(dir, "child.sh", "touch \(dir)/ready; while :; do sleep 0.1; done")
        let supervisor = try SupervisorTestSupport.background(
            ["run", "--run-dir", dir + "/run", "--requeue", "--", child], directory: dir,
            environment: ["SLURM_JOB_ID": ""])
        #expect(SupervisorTestSupport.waitForFile(dir + "/ready"))
        supervisor.signal(SIGTERM)
        #expect(supervisor.wait(deadline: 120).status == 75)
        #expect(supervisor.stderr.contains("SLURM_JOB_ID is not set"))
        #expect(try SupervisorTestSupport.events(dir + "/run", "requeue").isEmpty)
    }
}
