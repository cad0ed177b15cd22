import Foundation
import Resumable
import Testing

/// The Python example says what it does (issue 11, item 6): a start line
/// (fresh or resumed from which step), a line every few steps and at each
/// save, and a final summary, all on stderr, flushed as they happen.
@Suite("Python example progress")
struct PythonProgressTests {
    @Test("fresh then resumed: start line, step and save lines in order, final summary")
    func progressLines() throws {
        let run = TestSupport.temporaryDirectory("py-progress") + "/run"
        let env = ["RESUMABLE_BIN": TestSupport.resumable, "RESUMABLE_RESUME_FROM": ""]
        let script = PythonExampleTests.script
        let fresh = try TestSupport.run(
            TestSupport.python, [script, "--steps", "20", "--save-every", "10", "--log-every", "5", "--run-dir", run],
            environment: env)
        #expect(fresh.status == 0, "\(fresh)")
        let lines = fresh.stderr.split(separator: "\n").map(String.init)
        #expect(lines.first?.contains("starting fresh: 20 steps") == true, "\(fresh.stderr)")
        let steps = lines.filter { $0.hasPrefix("train.py: step ") }
        #expect(
            steps.map { $0.split(separator: " ")[2] } == ["5/20", "10/20", "15/20", "20/20"], "each once, in order: \(fresh.stderr)")
        #expect(steps[1].hasSuffix("(saved)") && !steps[0].hasSuffix("(saved)"), "\(steps)")
        #expect(lines.last?.contains("done at step 20") == true && lines.last?.contains("2 checkpoint(s)") == true, "\(fresh.stderr)")

        var resumeEnv = env
        resumeEnv["RESUMABLE_RESUME_FROM"] = run + "/checkpoints/" + Checkpoint.directoryName(step: 20)
        let resumed = try TestSupport.run(
            TestSupport.python, [script, "--steps", "30", "--save-every", "10", "--run-dir", run], environment: resumeEnv)
        #expect(resumed.status == 0, "\(resumed)")
        #expect(resumed.stderr.contains("resuming from step 20 of 30"), "\(resumed.stderr)")
        #expect(resumed.stderr.contains("train.py: step 30/30"), "\(resumed.stderr)")
        #expect(resumed.stderr.contains("done at step 30, loss"), "\(resumed.stderr)")
    }
}
