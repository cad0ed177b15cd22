import Foundation
import Resumable
import Testing

/// The loop driver in process: exact resume after an interruption, resume
/// modes, config checks. Serialized: the stop flag is process-wide.
@Suite("Training loop", .serialized)
struct TrainingLoopTests {
    func finalState(_ run: String, interruptAt steps: [Int64], everySteps: Int64? = nil) throws -> TrainingState {
        interrupt(run, at: steps, everySteps: everySteps)
        InterruptFlag.reset()
        let result = try TrainingLoop(options: ToyTraining.options(run, everySteps: everySteps), hooks: ToyTraining.hooks())
            .run(from: ToyTraining.initialState())
        #expect(result.reason == .completed)
        return result.state
    }

    func interrupt(_ run: String, at steps: [Int64], everySteps: Int64? = nil) {
        for step in steps {
            InterruptFlag.reset()
            let loop = TrainingLoop(
                options: ToyTraining.options(run, everySteps: everySteps), hooks: ToyTraining.hooks(interruptAtStep: step))
            let error = #expect(throws: ResumableError.self) { try loop.run(from: ToyTraining.initialState()) }
            #expect(error?.code == .interrupted)
            #expect(error?.exitCode == 75)
        }
    }

    @Test("interrupted mid-epoch and at epoch ends, resumed, it ends identical")
    func exactResume() throws {
        let straight = try finalState(TestSupport.temporaryDirectory("loop"), interruptAt: [])
        let interrupted = try finalState(TestSupport.temporaryDirectory("loop"), interruptAt: [2, 4, 5, 9, 13, 20])
        #expect(interrupted == straight)
        #expect(straight.history.records.count == 6)
        #expect(straight.progress.step == 24)
    }

    @Test("must with nothing to resume exits 66; never refuses a run with checkpoints unless overwriting")
    func resumeModes() throws {
        let run = TestSupport.temporaryDirectory("loop")
        let must = #expect(throws: ResumableError.self) {
            try TrainingLoop(options: ToyTraining.options(run, resume: .must), hooks: ToyTraining.hooks()).run(from: ToyTraining.initialState())
        }
        #expect(must?.exitCode == 66)
        _ = try finalState(run, interruptAt: [3])
        let never = #expect(throws: ResumableError.self) {
            try TrainingLoop(options: ToyTraining.options(run, resume: .never), hooks: ToyTraining.hooks()).run(from: ToyTraining.initialState())
        }
        #expect(never?.code == .conflict)
        var options = ToyTraining.options(run, resume: .never)
        options.overwrite = true
        let fresh = try TrainingLoop(options: options, hooks: ToyTraining.hooks()).run(from: ToyTraining.initialState())
        #expect(fresh.resumedFrom == nil)
        let again = try TrainingLoop(options: ToyTraining.options(run, resume: .must), hooks: ToyTraining.hooks())
            .run(from: ToyTraining.initialState())
        #expect(again.reason == .alreadyFinished)
    }

    @Test("starting over and resuming from an older step of the run delete through the store's reset, recorded by the loop")
    func resetAndDiscard() throws {
        let run = TestSupport.temporaryDirectory("loop")
        let straight = try finalState(run, interruptAt: [])
        let store = try CheckpointStore(directory: run)
        let all = try store.committedSteps()
        #expect(all.contains(8) && (all.last ?? 0) > 8, "\(all)")
        let reference = try CheckpointReference(parsing: run + "@step-8")
        let refused = #expect(throws: ResumableError.self) {
            try TrainingLoop(options: ToyTraining.options(run, resume: .from(reference)), hooks: ToyTraining.hooks())
                .run(from: ToyTraining.initialState())
        }
        #expect(refused?.code == .conflict)
        #expect(try store.committedSteps() == all, "a refusal deletes nothing")

        var fork = ToyTraining.options(run, resume: .from(reference))
        fork.overwrite = true
        let forked = try TrainingLoop(options: fork, hooks: ToyTraining.hooks()).run(from: ToyTraining.initialState())
        #expect(forked.resumedFrom?.step == 8)
        #expect(forked.state == straight)
        let discard = try #require(try store.events.entries().last { $0.matches(JournalEvent.Training.discard) })
        #expect(discard["steps"] == .array(all.filter { $0 > 8 }.map { .int($0) }))
        #expect(discard["to"]?.intValue == 8)
        #expect(discard["reason"]?.stringValue == "resumed from step 8")

        var never = ToyTraining.options(run, resume: .never)
        never.overwrite = true
        let before = try store.committedSteps()
        let fresh = try TrainingLoop(options: never, hooks: ToyTraining.hooks()).run(from: ToyTraining.initialState())
        #expect(fresh.resumedFrom == nil)
        let reset = try #require(try store.events.entries().last { $0.matches(JournalEvent.Training.reset) })
        #expect(reset["steps"] == .array(before.map { .int($0) }))
        #expect(reset["to"] == .null)
        #expect(reset["reason"]?.stringValue == "started over")
        #expect(try store.events.entries().contains { $0.matches(JournalEvent.Store.reset) } == false)
    }

    @Test("an explicit reference resumes from that checkpoint")
    func explicitReference() throws {
        let run = TestSupport.temporaryDirectory("loop")
        _ = try finalState(run, interruptAt: [])
        let fork = TestSupport.temporaryDirectory("fork")
        let reference = try CheckpointReference(parsing: run + "@step-8")
        let result = try TrainingLoop(options: ToyTraining.options(fork, resume: .from(reference)), hooks: ToyTraining.hooks())
            .run(from: ToyTraining.initialState())
        #expect(result.resumedFrom?.step == 8)
        #expect(result.state == (try finalState(TestSupport.temporaryDirectory("loop"), interruptAt: [])))
    }

    @Test("a changed fixed key is refused by name; a changed lr continues")
    func configChanges() throws {
        let run = TestSupport.temporaryDirectory("loop")
        interrupt(run, at: [5])
        InterruptFlag.reset()
        let changedSeed = #expect(throws: ResumableError.self) {
            try TrainingLoop(
                options: ToyTraining.options(run, config: ["seed": 2, "lr": 0.05, "epochs": 6]), hooks: ToyTraining.hooks()
            ).run(from: ToyTraining.initialState())
        }
        #expect(changedSeed?.code == .conflict)
        #expect(changedSeed?.message.contains("seed") == true)
        #expect(changedSeed?.message.contains("lr:") == false)
        let changedLR = try TrainingLoop(
            options: ToyTraining.options(run, config: ["seed": 1, "lr": 0.01, "epochs": 6]), hooks: ToyTraining.hooks(lr: 0.01)
        ).run(from: ToyTraining.initialState(lr: 0.01))
        #expect(changedLR.reason == .completed)
        #expect(changedLR.state.schedule.baseLearningRate == 0.01)
        let store = try CheckpointStore(directory: run)
        #expect(store.run.config["lr"] == .double(0.01))
    }

    @Test("a refusal says what to do in the library's terms, not the digits example's flags")
    func refusalWording() throws {
        let run = TestSupport.temporaryDirectory("loop")
        _ = try finalState(run, interruptAt: [])
        let error = #expect(throws: ResumableError.self) {
            try TrainingLoop(options: ToyTraining.options(run, resume: .never), hooks: ToyTraining.hooks())
                .run(from: ToyTraining.initialState())
        }
        #expect(error?.code == .conflict)
        #expect(error?.message.contains("`overwrite: true`") == true, "\(String(describing: error))")
        for flag in ["--force", "--resume", "--run-dir"] {
            #expect(error?.message.contains(flag) == false, "\(String(describing: error))")
        }
    }

    @Test("asking for fewer epochs than are done says so")
    func fewerEpochs() throws {
        let run = TestSupport.temporaryDirectory("loop")
        _ = try finalState(run, interruptAt: [])
        let error = #expect(throws: ResumableError.self) {
            try TrainingLoop(
                options: ToyTraining.options(run, config: ["seed": 1, "lr": 0.05, "epochs": 3]), hooks: ToyTraining.hooks()
            ).run(from: ToyTraining.initialState(epochs: 3))
        }
        #expect(error?.code == .usage)
        #expect(error?.message.contains("already completed 6 epoch(s)") == true)
        let more = try TrainingLoop(
            options: ToyTraining.options(run, config: ["seed": 1, "lr": 0.05, "epochs": 8]), hooks: ToyTraining.hooks()
        ).run(from: ToyTraining.initialState(epochs: 8))
        #expect(more.state.progress.completedEpochs == 8)
    }

    @Test("resume falls back past a corrupt latest checkpoint and replaces it")
    func corruptFallback() throws {
        let run = TestSupport.temporaryDirectory("loop")
        interrupt(run, at: [10])
        let store = try CheckpointStore(directory: run)
        let latest = try #require(try store.latest()?.checkpoint)
        #expect(latest.step == 10)
        let path = latest.path(of: "model.safetensors")
        var bytes = try FileSystem.readFile(path)
        bytes[bytes.count - 1] ^= 0xFF
        try FileManager.default.removeItem(atPath: path)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        InterruptFlag.reset()
        let result = try TrainingLoop(options: ToyTraining.options(run, everySteps: 1), hooks: ToyTraining.hooks())
            .run(from: ToyTraining.initialState())
        #expect(result.resumedFrom?.step == 8)
        #expect(result.state == (try finalState(TestSupport.temporaryDirectory("loop"), interruptAt: [])))
        let events = try EventJournal(runDirectory: run).read()
        let resume = events.last { $0["event"]?.stringValue == "resume" }
        #expect(resume?["skipped"]?.arrayValue?.first?["step"]?.intValue == 10)
    }
}
