import Foundation
import Resumable
import Testing

/// The example pipeline (Examples/pipeline: NumPy stages that commit a
/// checkpoint every epoch) under `resumable pipeline run`, its whole process
/// group SIGKILLed at random instants, then finished.
@Suite("pipeline run killed at random instants", .serialized)
struct PipelineCrashTests {
    /// A copy of the example in `root/Examples/pipeline`, with `root/python`
    /// linking to the package, so its relative paths (`../../runs`,
    /// `../../python`) stay inside `root`.
    struct Example {
        let root: String
        var directory: String { root + "/Examples/pipeline" }
        var run: String { root + "/runs/pipeline-example" }
        let environment: [String: String]

        init(_ label: String, epochDelay: Double) throws {
            let root = TestSupport.temporaryDirectory(label)
            self.root = root
            let fm = FileManager.default
            try fm.createDirectory(atPath: root + "/Examples", withIntermediateDirectories: true)
            try fm.copyItem(atPath: TestSupport.packageRoot + "/Examples/pipeline", toPath: root + "/Examples/pipeline")
            try fm.createSymbolicLink(atPath: root + "/python", withDestinationPath: TestSupport.packageRoot + "/python")
            environment = [
                "PYTHON": TestSupport.python, "PIPELINE_EPOCH_DELAY": String(epochDelay),
                "RESUMABLE_BIN": TestSupport.resumable, "PYTHONDONTWRITEBYTECODE": "1",
            ]
        }

        /// Starts `pipeline run`: Foundation makes it the leader of a process group of its own (checked).
        func start() throws -> TestProcess {
            let process = try TestProcess(
                TestSupport.resumable, ["pipeline", "run", "pipeline.yaml", "--no-preflight", "--backoff", "0.1,0.5"],
                environment: environment, directory: directory, stdout: .discard, stderr: .discard)
            #expect(getpgid(process.pid) == process.pid || !process.isRunning, "pipeline run must lead its own process group")
            return process
        }

        func runToEnd() throws -> TestSupport.Outcome {
            try TestSupport.run(
                TestSupport.resumable, ["pipeline", "run", "pipeline.yaml", "--no-preflight"], environment: environment, directory: directory,
                deadline: 300)
        }

        func ledger() -> StageLedger? { try? StageLedger.read(runDirectory: run) }

        /// The `start` lines of a stage's execution log, as (resume step, whole line).
        func starts(_ stage: String) -> [(resume: Int64, line: String)] {
            let text = (try? String(contentsOfFile: run + "/stages/\(stage)/executions.log", encoding: .utf8)) ?? ""
            return text.split(separator: "\n").filter { $0.hasPrefix("start") }.map { line in
                let field = line.split(separator: " ").first { $0.hasPrefix("resume_step=") }
                return (Int64(field?.dropFirst("resume_step=".count) ?? "") ?? -1, String(line))
            }
        }

        /// The newest committed step of a stage's run directory (0 when none).
        func latestStep(_ stage: String) -> Int64 {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: run + "/stages/\(stage)/checkpoints")) ?? []
            return names.compactMap { $0.hasPrefix("step-") ? Int64($0.dropFirst(5)) : nil }.max() ?? 0
        }
    }

    static let stages = ["operator", "diff_residual", "consistency_distill", "steady_prior", "evaluate"]

    @Test("30+ SIGKILLs of the whole group: outputs byte-identical, completed stages never re-run, killed stages resume from their last checkpoint")
    func killedAnywhere() throws {
        // The reference: one uninterrupted run.
        let reference = try Example("pipeline-crash-ref", epochDelay: 0)
        let clean = try reference.runToEnd()
        #expect(clean.status == 0, "\(clean)")
        let expected = try #require(reference.ledger())
        for stage in Self.stages {
            #expect(expected.record(stage).status == .completed, "\(stage)")
            #expect(reference.starts(stage).count == 1, "\(stage) ran once")
        }

        var kills = 0
        var rounds = 0
        var resumedMidway = 0
        while kills < 30 {
            rounds += 1
            let example = try Example("pipeline-crash-\(rounds)", epochDelay: 0.12)
            // What each completed stage had run when it was seen completed; what a killed stage had committed.
            var startsWhenCompleted: [String: Int] = [:]
            var committedAtKill: [String: (step: Int64, starts: Int)] = [:]
            while kills < 30 {
                let process = try example.start()
                usleep(UInt32.random(in: 150_000...1_400_000))
                let finished = !process.isRunning
                if !finished {
                    kill(-process.pid, SIGKILL)
                    kills += 1
                }
                _ = process.wait(deadline: 30)
                // The stages' jobs die with the runner (parent-death signal and watchdog): wait for their locks to free.
                usleep(100_000)
                guard let ledger = example.ledger() else { continue }
                if ProcessInfo.processInfo.environment["PIPELINE_CRASH_DEBUG"] != nil {
                    print("kill \(kills) finished=\(finished): " + Self.stages.map { "\($0)=\(ledger.record($0).observedStatus.rawValue)/\(example.starts($0).count)" }.joined(separator: " "))
                }
                for stage in Self.stages {
                    let starts = example.starts(stage)
                    // A stage that started again after a kill resumed from what it had committed then.
                    if let killed = committedAtKill[stage], starts.count > killed.starts {
                        let next = starts[killed.starts]
                        #expect(next.resume == killed.step, "\(stage): \(next.line) after a kill with step \(killed.step) committed")
                        if killed.step > 0 && next.resume == killed.step { resumedMidway += 1 }
                        committedAtKill[stage] = nil
                    }
                    let record = ledger.record(stage)
                    if record.status == .completed {
                        if let seen = startsWhenCompleted[stage] {
                            #expect(starts.count == seen, "\(stage) was completed and ran again: \(starts.map(\.line))")
                        } else {
                            startsWhenCompleted[stage] = starts.count
                        }
                        committedAtKill[stage] = nil
                    } else if record.observedStatus == .interrupted, committedAtKill[stage] == nil {
                        committedAtKill[stage] = (example.latestStep(stage), starts.count)
                    }
                }
                if Self.stages.allSatisfy({ ledger.record($0).status == .completed }) { break }
            }
            // Let it finish, then compare with the uninterrupted run.
            let end = try example.runToEnd()
            #expect(end.status == 0, "\(end)")
            let ledger = try #require(example.ledger())
            for stage in Self.stages {
                let record = ledger.record(stage)
                #expect(record.status == .completed, "\(stage): \(record.status)")
                #expect(record.outputs == expected.record(stage).outputs, "\(stage): outputs differ from the uninterrupted run")
                if let seen = startsWhenCompleted[stage] {
                    #expect(example.starts(stage).count == seen, "\(stage) ran again after it completed")
                }
            }
            for output in expected.stages.values.flatMap(\.outputs) {
                let a = FileManager.default.contents(atPath: reference.run + "/" + output.path)
                let b = FileManager.default.contents(atPath: example.run + "/" + output.path)
                #expect(a != nil && a == b, "\(output.path) is not byte-identical")
            }
        }
        #expect(kills >= 30)
        #expect(resumedMidway >= 3, "stages killed mid-way resumed from their last checkpoint \(resumedMidway) times")
        print("pipeline crash test: \(kills) kills over \(rounds) round(s), \(resumedMidway) mid-stage resumes")
    }
}
