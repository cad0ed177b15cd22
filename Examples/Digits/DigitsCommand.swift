import ArgumentParser
import Foundation
import Logging
import Resumable

/// `digits`: trains a multi-layer perceptron on the handwritten digits with
/// checkpoints, exact resume and signal handling.
@main
struct DigitsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "digits",
        abstract: "Train an MLP on the handwritten digits; kill it anytime and run it again to continue.",
        discussion: """
            Checkpoints go to --run-dir every epoch and when SIGINT, SIGTERM or SIGUSR1 arrives \
            (then it exits 75). Running the same command again continues exactly where it stopped.
            Exit codes: 0 done, 1 config conflict, 64 usage, 65 corrupt data, 66 nothing to resume (--resume must), \
            75 interrupted (state saved).
            """)

    @Option(help: "The run directory.") var runDir = "runs/digits"
    @Option(parsing: .unconditional, help: "Epochs to train (may grow when resuming).") var epochs: Int64 = 30
    @Option(parsing: .unconditional, help: "Random seed (data split, initialisation, shuffling, dropout).") var seed: UInt64 = 0
    @Option(help: "auto | must | never | a checkpoint (RUN@step-N, RUN@best, a checkpoint directory).")
    var resume = "auto"
    @Flag(help: "Allow --resume never to delete the run's checkpoints, or an older checkpoint to replace newer ones.")
    var force = false
    @Option(parsing: .unconditional, help: "Peak learning rate of the cosine schedule (may change when resuming).") var lr = 0.002
    @Option(parsing: .unconditional, help: "Examples per batch.") var batchSize = 32
    @Option(parsing: .unconditional, help: "Hidden units.") var hidden = 128
    @Option(parsing: .unconditional, help: "Dropout probability on the hidden layer.") var dropout = 0.1
    @Option(parsing: .unconditional, help: "Early-stopping patience in epochs (on val_loss).") var patience = 6
    @Option(parsing: .unconditional, help: "Also save every N steps (0: only at epoch ends).") var saveEverySteps: Int64 = 0
    @Option(parsing: .unconditional, help: "Checkpoints kept: the last N (plus the best).") var keepLast = 3
    @Option(help: "The digits.csv.gz file.") var data = DigitsData.defaultPath
    @Flag(help: "Write checkpoints in the background: training waits only while the state is copied.")
    var asyncSaves = false
    @Flag(help: ArgumentHelp("Print step and save events on stdout (for tests).", visibility: .hidden))
    var trace = false
    @Option(help: ArgumentHelp("Pause this long before each commit (for tests).", visibility: .hidden))
    var slowSaveMs = 0

    func validate() throws {
        guard epochs >= 1 else { throw ValidationError("--epochs must be at least 1.") }
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1.") }
        guard hidden >= 1 else { throw ValidationError("--hidden must be at least 1.") }
        guard lr > 0, lr.isFinite else { throw ValidationError("--lr must be a positive number.") }
        guard (0..<1).contains(dropout) else { throw ValidationError("--dropout must be in [0, 1).") }
        guard keepLast >= 1 else { throw ValidationError("--keep-last must be at least 1.") }
        guard saveEverySteps >= 0 else { throw ValidationError("--save-every-steps must be 0 or more.") }
    }

    func run() throws {
        // First thing: a Ctrl-C while the data loads stops at the first step (exit 75), not by the signal (130).
        InterruptFlag.install()
        LoggingSystem.bootstrap { label in PlainLogHandler(label: label) }
        do {
            try train()
        } catch let error as ResumableError {
            FileHandle.standardError.write(Data("digits: \(Self.inDigitsTerms(error.message))\n".utf8))
            throw ExitCode(error.exitCode)
        }
    }

    /// The library's advice in this command's flags: the training loop says
    /// what to do in terms of its options (`overwrite: true`, resume mode
    /// `never`, another run directory); digits sets them with flags.
    static func inDigitsTerms(_ message: String) -> String {
        let flags = [
            ("resume mode `never` with overwriting allowed", "--resume never --force"),
            ("Allow overwriting (`overwrite: true`)", "Pass --force"),
            ("allow overwriting (`overwrite: true`)", "pass --force"),
            ("resume mode `auto` or `never`", "--resume auto or never"),
            ("(mode `auto`)", "(--resume auto)"),
            ("resume mode `never`", "--resume never"),
            ("another run directory", "another --run-dir"),
        ]
        return flags.reduce(message) { $0.replacingOccurrences(of: $1.0, with: $1.1) }
    }

    /// The configuration fingerprinted into run.json; `lr` and `epochs` may change on resume.
    var config: TrainingConfig {
        TrainingConfig(
            [
                "seed": .int(Int64(bitPattern: seed)), "epochs": .int(epochs), "lr": .double(lr),
                "batch_size": .int(Int64(batchSize)), "hidden": .int(Int64(hidden)), "dropout": .double(dropout),
                "patience": .int(Int64(patience)), "validation_fraction": .double(0.2), "optimizer": "adam",
                "schedule": "cosine",
            ], changeableKeys: ["lr", "epochs"])
    }

    func train() throws {
        let started = ContinuousClock.now
        let dataset = try DigitsData.load(path: data, validationFraction: 0.2, seed: seed)
        let model = MLP(inputs: DigitsData.featureCount, hidden: hidden, classes: DigitsData.classCount)
        let cursor = DataCursor(exampleCount: dataset.trainCount, batchSize: batchSize, seed: seed ^ 0xC0_5E11)
        let parameters = model.initialParameters(seed: seed)
        let monitor = Monitor(metric: "val_accuracy", mode: .max)
        let initial = TrainingState(
            parameters: parameters, optimizer: Adam.makeState(for: parameters),
            schedule: Self.schedule(lr: lr, epochs: epochs, batchesPerEpoch: cursor.batchesPerEpoch),
            progress: TrainingProgress(totalEpochs: epochs), generators: ["dropout": Xoshiro256StarStar(seed: seed ^ 0xD0_0D)],
            cursor: cursor, earlyStopping: EarlyStopping(metric: "val_loss", mode: .min, patience: patience),
            best: BestScore(monitor: monitor))
        let display = ProgressDisplay(trace: trace)
        let options = TrainingOptions(
            runDirectory: runDir, resume: try ResumeMode(parsing: resume), overwrite: force, config: config,
            saveTriggers: SaveTriggers(everySteps: saveEverySteps > 0 ? saveEverySteps : nil, everyEpochs: 1),
            retention: RetentionPolicy(keepLast: keepLast, keepBest: 1, monitor: monitor),
            asynchronousSaves: asyncSaves, logger: Logger(label: "digits"))
        let (lr, epochs, dropout, slowSaveMs) = (lr, epochs, dropout, slowSaveMs)
        let hooks = TrainingHooks(
            trainStep: { state, batch in
                let rows = Array(batch)
                var mask: [Float]?
                if dropout > 0 {
                    var generator = state.generators["dropout"] ?? Xoshiro256StarStar(seed: 0)
                    let keep = Float(1 / (1 - dropout))
                    mask = (0..<(rows.count * model.hidden)).map { _ in
                        generator.nextUnitDouble() < dropout ? 0 : keep
                    }
                    state.generators["dropout"] = generator
                }
                let (loss, gradients) = dataset.trainFeatures.withUnsafeBufferPointer { x in
                    model.lossAndGradients(
                        state.parameters, features: x, rows: rows, labels: rows.map { dataset.trainLabels[$0] }, mask: mask)
                }
                Adam.update(&state.parameters, gradients: gradients, state: &state.optimizer, learningRate: state.learningRate)
                return ["train_loss": loss]
            },
            evaluate: { state in
                let (loss, accuracy) = model.evaluate(
                    state.parameters, features: dataset.validationFeatures, labels: dataset.validationLabels)
                return ["val_loss": loss, "val_accuracy": accuracy]
            },
            reconfigure: { state, _ in
                state.schedule = Self.schedule(lr: lr, epochs: epochs, batchesPerEpoch: state.cursor.batchesPerEpoch)
            },
            observe: { display.show($0) },
            beforeCommit: { _ in
                if slowSaveMs > 0 { usleep(UInt32(slowSaveMs) * 1000) }
            })
        let result = try TrainingLoop(options: options, hooks: hooks).run(from: initial)
        display.finish()
        let elapsed = ContinuousClock.now - started
        print(Self.report(result, elapsed: elapsed))
    }

    static func schedule(lr: Double, epochs: Int64, batchesPerEpoch: Int) -> LearningRateSchedule {
        .cosine(base: lr, minimum: lr * 0.01, totalSteps: epochs * Int64(batchesPerEpoch), warmupSteps: Int64(batchesPerEpoch))
    }

    /// The first line of the report, in words.
    static func headline(_ reason: TrainingResult.Reason) -> String {
        switch reason {
        case .completed: return "Finished all epochs"
        case .earlyStopping: return "Stopped early (no improvement for the patience)"
        case .alreadyFinished:
            return "Already finished, nothing to train (a larger --epochs continues it; another --run-dir starts a new run)"
        }
    }

    static func report(_ result: TrainingResult, elapsed: Duration) -> String {
        let state = result.state
        let last = state.history.last?.metrics ?? [:]
        func pct(_ v: Double?) -> String { v.map { String(format: "%.2f %%", $0 * 100) } ?? "-" }
        var lines = [
            "\(headline(result.reason)): epoch \(state.progress.completedEpochs) of \(state.progress.totalEpochs), step \(state.progress.step)",
            "  val_accuracy \(pct(last["val_accuracy"])), val_loss \(last["val_loss"].map { String(format: "%.4f", $0) } ?? "-"), train_loss \(last["train_loss"].map { String(format: "%.4f", $0) } ?? "-")",
            "  best \(state.best.metric) \(pct(state.best.value)) at epoch \(state.best.epoch.map(String.init) ?? "-")",
        ]
        if let checkpoint = result.checkpoint { lines.append("  checkpoint \(checkpoint.directory)") }
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        lines.append(String(format: "  time %.2f s", seconds))
        return lines.joined(separator: "\n")
    }
}
