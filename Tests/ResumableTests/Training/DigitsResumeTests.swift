import Foundation
import Resumable
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// End to end: the `digits` example killed (SIGKILL, several times in one
/// run, mid-epoch and during saves) or stopped (SIGTERM) and resumed ends
/// byte-identical to a run that never stopped, with synchronous saves and
/// with `--async-saves` (a third as many kills). `RESUMABLE_RESUME_KILLS`
/// raises the number of kills (default 12).
@Suite("Digits resume", .serialized)
struct DigitsResumeTests {
    static var digits: String { TestSupport.executable("digits") }
    static var kills: Int { Int(ProcessInfo.processInfo.environment["RESUMABLE_RESUME_KILLS"] ?? "") ?? 12 }

    /// Small enough for a debug build: 23 steps an epoch, saves every 5 steps.
    static func arguments(_ run: String, epochs: Int, async: Bool = false) -> [String] {
        (async ? ["--async-saves"] : []) + [
            "--run-dir", run, "--epochs", String(epochs), "--hidden", "24", "--batch-size", "64",
            "--save-every-steps", "5", "--patience", "1000", "--trace", "--slow-save-ms", "15",
        ]
    }

    /// Runs digits and sends `signal` once the `count`-th trace line starting
    /// with `prefix` appears (and, with `then`, at the next line starting
    /// with `then` after it); `nil` lets it run to its end.
    static func run(
        _ arguments: [String], signal: Int32? = nil, at prefix: String = "step ", count: Int = 1, then: String? = nil
    ) throws -> (status: Int32, signaled: Bool, lines: [String]) {
        let process = try TestProcess(digits, arguments, stdout: .capture, stderr: .discard)
        var lines: [String] = []
        var seen = 0
        var sent = false
        var armed = false
        while let line = process.nextLine() {
            lines.append(line)
            if let signal, !sent, armed, let then, line.hasPrefix(then) {
                process.signal(signal)
                sent = true
            } else if let signal, !sent, !armed, line.hasPrefix(prefix) {
                seen += 1
                if seen >= count {
                    if then == nil {
                        process.signal(signal)
                        sent = true
                    } else {
                        armed = true
                    }
                }
            }
        }
        let outcome = process.wait()
        return (outcome.status, outcome.signaled, lines)
    }

    /// The bytes of the files of the latest checkpoint that must match.
    static func finalFiles(_ run: String) throws -> [String: [UInt8]] {
        let store = try CheckpointStore(directory: run)
        let latest = try #require(try store.latest(verify: true)?.checkpoint)
        var files: [String: [UInt8]] = ["step": Array(String(latest.step).utf8)]
        for name in ["model.safetensors", "optimizer.safetensors", "state.json"] {
            files[name] = try FileSystem.readFile(latest.path(of: name))
        }
        return files
    }

    static func history(_ run: String) throws -> [EpochRecord] {
        let store = try CheckpointStore(directory: run)
        let latest = try #require(try store.latest()?.checkpoint)
        var state = TrainingState(
            parameters: TensorSet(), optimizer: OptimizerState(kind: "adam"), schedule: .constant(0),
            progress: TrainingProgress(totalEpochs: 0), cursor: DataCursor(exampleCount: 1438, batchSize: 64, seed: 0),
            best: BestScore(monitor: Monitor(metric: "val_accuracy", mode: .max)))
        try state.restore(from: latest)
        return state.history.records
    }

    /// With `--async-saves`, a kill "during a save" lands on the first step
    /// after the save began: the checkpoint is then being written in the
    /// background while training goes on.
    @Test("SIGKILLed again and again, mid-epoch and during saves, it ends byte-identical", arguments: [false, true])
    func killsAndResumes(async: Bool) throws {
        let kills = async ? max(4, Self.kills / 3) : Self.kills
        let epochs = max(5, kills * 6 / 23 + 2)
        let straight = TestSupport.temporaryDirectory("digits-straight")
        // The reference run saves synchronously either way.
        let plain = try Self.run(Self.arguments(straight, epochs: epochs))
        #expect(plain.status == 0 && !plain.signaled)

        let killed = TestSupport.temporaryDirectory("digits-killed")
        var generator = Xoshiro256StarStar(seed: UInt64(ProcessInfo.processInfo.environment["RESUMABLE_RESUME_SEED"] ?? "") ?? 7)
        var done = 0
        var duringSave = 0
        var attempts = 0
        while true {
            attempts += 1
            #expect(attempts < kills * 3 + 20, "the run should finish")
            if attempts >= kills * 3 + 20 { break }
            if done < kills {
                let onSave = generator.nextInt(below: 2) == 0
                let prefix = onSave ? "save-begin " : "step "
                let count = onSave ? 1 + generator.nextInt(below: 2) : 1 + generator.nextInt(below: 8)
                let outcome = try Self.run(
                    Self.arguments(killed, epochs: epochs, async: async), signal: SIGKILL, at: prefix, count: count,
                    then: async && onSave ? "step " : nil)
                if outcome.signaled {
                    done += 1
                    if onSave { duringSave += 1 }
                    continue
                }
                #expect(outcome.status == 0)
                break
            }
            let outcome = try Self.run(Self.arguments(killed, epochs: epochs, async: async))
            #expect(outcome.status == 0 && !outcome.signaled)
            break
        }
        #expect(done >= kills, "killed \(done) times")
        #expect(duringSave >= 1)
        #expect(try Self.finalFiles(killed) == Self.finalFiles(straight))
        #expect(try Self.history(killed) == Self.history(straight))
        let diff = try TestSupport.resumable("diff", straight, killed)
        #expect(diff.status == 0, "\(diff)")
    }

    @Test("SIGTERM saves and exits 75; a second signal ends it at once; resuming ends identical", arguments: [false, true])
    func sigterm(async: Bool) throws {
        let straight = TestSupport.temporaryDirectory("digits-straight")
        #expect(try Self.run(Self.arguments(straight, epochs: 3)).status == 0)
        let stopped = TestSupport.temporaryDirectory("digits-term")
        for count in [7, 30] {
            let outcome = try Self.run(Self.arguments(stopped, epochs: 3, async: async), signal: SIGTERM, at: "step ", count: count)
            #expect(outcome.status == 75 && !outcome.signaled)
            #expect(outcome.lines.contains("interrupted"))
            // The state at the step it stopped at is committed: by the signal's
            // save, or by an epoch-end save the signal arrived during.
            let lastStep = outcome.lines.last { $0.hasPrefix("step ") }.flatMap { Int64($0.dropFirst(5)) }
            let lastSaved = outcome.lines.last { $0.hasPrefix("save-end ") }.flatMap { Int64($0.dropFirst(9)) }
            #expect(lastStep != nil && lastSaved == lastStep, "\(outcome.lines.suffix(6))")
            #expect(try CheckpointStore(directory: stopped).latest(verify: true)?.checkpoint.step == lastStep)
        }
        // A second signal while the save is paused: the process ends by the signal.
        var arguments = Self.arguments(stopped, epochs: 3, async: async)
        arguments[arguments.count - 1] = "400"
        let process = try TestProcess(Self.digits, arguments, stdout: .capture, stderr: .discard)
        while let line = process.nextLine(), !line.contains("save-begin") {}
        process.signal(SIGTERM)
        usleep(50_000)
        process.signal(SIGTERM)
        let ended = process.wait()
        #expect(ended.signaled && ended.status == SIGTERM)
        let verify = try TestSupport.resumable("verify", stopped)
        #expect(verify.status == 0, "\(verify)")
        #expect(try Self.run(Self.arguments(stopped, epochs: 3, async: async)).status == 0)
        #expect(try Self.finalFiles(stopped) == Self.finalFiles(straight))
        let events = try EventJournal(runDirectory: stopped).read().compactMap { $0["event"]?.stringValue }
        #expect(events.filter { $0 == "interrupt" }.count == 2)
        #expect(events.last == "finish")
    }

    @Test("a changed fixed key is refused by name; a changed lr continues; status shows where training stands")
    func configAndStatus() throws {
        let run = TestSupport.temporaryDirectory("digits-config")
        let first = try Self.run(Self.arguments(run, epochs: 2), signal: SIGTERM, at: "step ", count: 10)
        #expect(first.status == 75)
        let interrupted = try TestSupport.resumable("status", run, "--json")
        let json = try TestSupport.json(interrupted.stdout)
        #expect(json["training"]?["state"]?.stringValue == "interrupted")
        #expect(json["training"]?["total_epochs"]?.intValue == 2)

        let changed = try TestSupport.run(Self.digits, Self.arguments(run, epochs: 2).map { $0 == "24" ? "16" : $0 })
        #expect(changed.status == 1)
        #expect(changed.stderr.contains("hidden: 24 → 16"), "\(changed)")
        let newLR = try TestSupport.run(Self.digits, Self.arguments(run, epochs: 3) + ["--lr", "0.001"])
        #expect(newLR.status == 0, "\(newLR)")
        #expect(newLR.stderr.contains("lr: 0.002 → 0.001"))
        let fewer = try TestSupport.run(Self.digits, Self.arguments(run, epochs: 1) + ["--lr", "0.001"])
        #expect(fewer.status == 64)
        #expect(fewer.stderr.contains("already completed 3 epoch(s)"))
        // The library's advice, in digits' flags.
        let restart = try TestSupport.run(Self.digits, Self.arguments(run, epochs: 3) + ["--resume", "never"])
        #expect(restart.status == 1)
        #expect(restart.stderr.contains("--resume never would start it over"), "\(restart)")
        #expect(restart.stderr.contains("(--resume auto)") && restart.stderr.contains("pass --force"), "\(restart)")
        #expect(!restart.stderr.contains("overwrite: true"), "\(restart)")

        let status = try TestSupport.resumable("status", run)
        #expect(status.status == 0)
        #expect(status.stdout.contains("Training"))
        #expect(status.stdout.contains("finished (completed)"))
        #expect(status.stdout.contains("epoch 3 of 3"))
        let done = try TestSupport.json(try TestSupport.resumable("status", run, "--json").stdout)
        #expect(done["training"]?["state"]?.stringValue == "finished")
        #expect(done["training"]?["history"]?["val_accuracy"]?.arrayValue?.count == 3)
        let ls = try TestSupport.json(try TestSupport.resumable("ls", run, "--json").stdout)
        for checkpoint in ls["checkpoints"]?.arrayValue ?? [] {
            for metric in ["train_loss", "val_loss", "val_accuracy"] {
                #expect(checkpoint["metrics"]?[metric]?.doubleValue != nil)
            }
        }
    }

    @Test("a resume that fails before training (a missing checkpoint reference) leaves no run behind")
    func failedResumeLeavesNothing() throws {
        let base = TestSupport.temporaryDirectory("digits-failed-resume")
        let other = try CLIFixture.makeRun("digits-failed-resume-src")
        defer { try? FileManager.default.removeItem(atPath: FilePath.parent(of: other)) }
        for run in [base + "/new", base + "/existing-empty"] {
            if run.hasSuffix("empty") { try FileSystem.createDirectory(run) }
            let outcome = try TestSupport.run(Self.digits, Self.arguments(run, epochs: 1) + ["--resume", other + "@step-99"])
            #expect(outcome.status == 66, "\(outcome)")
            let left = (try? FileSystem.contents(of: run)) ?? []
            #expect(left.isEmpty, "the failed start left \(left) in \(run)")
            #expect(FileSystem.exists(run) == run.hasSuffix("empty"), "a directory that existed before stays; one made now goes")
        }
    }

    @Test("Ctrl-C while the data still loads stops with exit 75 (safe to run again), never by the signal (130)")
    func earlySignal() throws {
        let base = TestSupport.temporaryDirectory("digits-early-signal")
        for (n, delay) in [0.15, 0.3, 0.6].enumerated() {
            let process = try TestProcess(
                Self.digits, Self.arguments(base + "/run\(n)", epochs: 30), stdout: .discard, stderr: .discard)
            Thread.sleep(forTimeInterval: delay)
            process.signal(SIGINT)
            let ended = process.wait()
            #expect(!ended.signaled && ended.status == 75, "after \(delay) s: \(ended)")
        }
    }
}
