import Foundation
import Resumable
import Testing

/// Asynchronous saves (`TrainingOptions.asynchronousSaves`) against
/// synchronous ones, in process. In the serialized "Training loop" suite:
/// the stop flag is process-wide.
extension TrainingLoopTests {
    /// Toy options saving every `everySteps` steps (and every epoch), keeping
    /// the last 3 and the best, synchronously or in the background.
    static func saveOptions(_ run: String, async: Bool, everySteps: Int64 = 2) -> TrainingOptions {
        var options = ToyTraining.options(run, everySteps: everySteps)
        options.retention = RetentionPolicy(
            keepLast: 3, keepBest: 1, monitor: Monitor(metric: "val_loss", mode: .min))
        options.asynchronousSaves = async
        return options
    }

    /// Every committed checkpoint's files, by step; the manifest without the
    /// keys that differ between runs (`created_at`, `run_id`).
    static func committedFiles(_ run: String) throws -> [Int64: [String: JSONValue]] {
        let store = try CheckpointStore(directory: run)
        var result: [Int64: [String: JSONValue]] = [:]
        for step in try store.committedSteps() {
            let checkpoint = try store.checkpoint(step: step)
            #expect(try store.verify(checkpoint).isIntact)
            var files: [String: JSONValue] = [:]
            for name in ["model.safetensors", "optimizer.safetensors", "state.json"] {
                files[name] = .string(try Checksum.sha256(ofFile: checkpoint.path(of: name)))
            }
            var manifest = try JSONParser().parse(try FileSystem.readFile(checkpoint.path(of: "manifest.json")))
                .objectValue ?? [:]
            manifest["created_at"] = nil
            manifest["run_id"] = nil
            files["manifest.json"] = .object(manifest)
            result[step] = files
        }
        return result
    }

    /// The `save` steps of the run's journal, in order.
    static func savedSteps(_ run: String) throws -> [Int64] {
        try EventJournal(runDirectory: run).read().filter { $0["event"]?.stringValue == "save" }
            .compactMap { $0["step"]?.intValue }
    }

    @Test("with asynchronous saves, a run ends byte-identical to one saving synchronously")
    func asyncSavesMatchSync() throws {
        InterruptFlag.reset()
        let sync = TestSupport.temporaryDirectory("loop-sync")
        let async = TestSupport.temporaryDirectory("loop-async")
        // Saving every step: each save comes while the previous one may still be written.
        let a = try TrainingLoop(options: Self.saveOptions(sync, async: false, everySteps: 1), hooks: ToyTraining.hooks())
            .run(from: ToyTraining.initialState())
        let b = try TrainingLoop(options: Self.saveOptions(async, async: true, everySteps: 1), hooks: ToyTraining.hooks())
            .run(from: ToyTraining.initialState())
        #expect(b.reason == .completed)
        #expect(b.state == a.state)
        #expect(b.state.history == a.state.history)
        #expect(b.checkpoint?.step == 24 && a.checkpoint?.step == 24)
        #expect(b.checkpoint?.manifest.metrics == a.checkpoint?.manifest.metrics)
        let syncFiles = try Self.committedFiles(sync)
        let asyncFiles = try Self.committedFiles(async)
        // Retention ran after each background commit: the same checkpoints are kept.
        #expect(syncFiles.keys.sorted() == asyncFiles.keys.sorted())
        #expect(syncFiles.keys.sorted() == [22, 23, 24])
        #expect(asyncFiles == syncFiles)
        #expect(try Self.savedSteps(async) == Array(1...24))
        let events = try EventJournal(runDirectory: async).read().compactMap { $0["event"]?.stringValue }
        #expect(events.last == "finish")
    }

    @Test("stopped by a signal with asynchronous saves, the stop's save is committed before it reports; resumed, it ends identical")
    func asyncSavesStopAndResume() throws {
        InterruptFlag.reset()
        let straight = TestSupport.temporaryDirectory("loop-sync")
        let expected = try TrainingLoop(options: Self.saveOptions(straight, async: false), hooks: ToyTraining.hooks())
            .run(from: ToyTraining.initialState())
        let run = TestSupport.temporaryDirectory("loop-async")
        for step: Int64 in [3, 7, 8, 13, 19] {
            InterruptFlag.reset()
            let loop = TrainingLoop(
                options: Self.saveOptions(run, async: true), hooks: ToyTraining.hooks(interruptAtStep: step))
            let error = #expect(throws: ResumableError.self) { try loop.run(from: ToyTraining.initialState()) }
            #expect(error?.exitCode == 75)
            #expect(error?.message.contains("the last checkpoint is step \(step)") == true, "\(String(describing: error))")
            // "Saved, safe to run again": committed and intact when the loop reports.
            let store = try CheckpointStore(directory: run)
            #expect(try store.latest(verify: true)?.checkpoint.step == step)
            let events = try EventJournal(runDirectory: run).read()
            #expect(events.last?["event"]?.stringValue == "interrupt")
            #expect(events.last { $0["event"]?.stringValue == "save" }?["step"]?.intValue == step)
        }
        InterruptFlag.reset()
        let resumed = try TrainingLoop(options: Self.saveOptions(run, async: true), hooks: ToyTraining.hooks())
            .run(from: ToyTraining.initialState())
        #expect(resumed.reason == .completed)
        #expect(resumed.resumedFrom?.step == 19)
        #expect(resumed.state == expected.state)
        #expect(resumed.state.history == expected.state.history)
        #expect(resumed.checkpoint?.step == 24)
        let last = try #require(try Self.committedFiles(run)[24])
        #expect(try Self.committedFiles(straight)[24] == last)
    }

    @Test("a background save that fails surfaces as the same error, and earlier checkpoints are intact")
    func asyncSaveFailure() throws {
        InterruptFlag.reset()
        let run = TestSupport.temporaryDirectory("loop-async")
        var hooks = ToyTraining.hooks()
        // The draft's directory disappears after the snapshot: the background write fails.
        hooks.beforeCommit = { draft in
            if draft.step == 6 { try FileSystem.removeTree(draft.stagingDirectory) }
        }
        let error = #expect(throws: ResumableError.self) {
            try TrainingLoop(options: Self.saveOptions(run, async: true), hooks: hooks).run(from: ToyTraining.initialState())
        }
        #expect(error != nil && error?.code != .interrupted)
        let store = try CheckpointStore(directory: run)
        #expect(try store.latest(verify: true)?.checkpoint.step == 4)
        #expect(try store.committedSteps().contains(6) == false)
        // Resuming continues from the last good checkpoint and ends as a run that never failed.
        let resumed = try TrainingLoop(options: Self.saveOptions(run, async: true), hooks: ToyTraining.hooks())
            .run(from: ToyTraining.initialState())
        #expect(resumed.resumedFrom?.step == 4)
        let straight = try TrainingLoop(
            options: Self.saveOptions(TestSupport.temporaryDirectory("loop-sync"), async: false), hooks: ToyTraining.hooks()
        ).run(from: ToyTraining.initialState())
        #expect(resumed.state == straight.state)
    }
}
