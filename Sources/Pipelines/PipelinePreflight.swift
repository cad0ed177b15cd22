package import CheckpointStore
import DurableFiles
import Supervisor
import Glibc

/// `resumable preflight FILE`: the checklist of a pipeline before any stage
/// runs (`pipeline run` runs it first, unless `--no-preflight`).
///
/// In order, each check independent of the others (one that fails or cannot
/// run does not stop the rest):
/// 1. `disk space`, `writable` and `lock` of the pipeline's run directory
///    `{run}` (checked on its nearest existing parent while it does not exist);
///    the space needed is `options.expectBytes`, else the largest latest
///    checkpoint of the stages' runs, × (kept + 2).
/// 2. For each stage whose run (`{run}/stages/NAME`) has checkpoints:
///    `stage NAME: latest checkpoint` (sizes and safetensors headers;
///    `options.full`: checksums) and `stage NAME: config`. When no stage has
///    any, one line `stages` says so.
/// 3. The file's own `preflight:` commands, by their names, in the order
///    written: each must exit 0 (see ``runUserCheck(_:spec:environment:timeout:)``).
package enum PipelinePreflight {
    /// Runs every check of the pipeline `spec`.
    /// - Parameters:
    ///   - options: as for a run's preflight (`full`, `expectBytes`, `keep`).
    ///   - checkTimeout: seconds each `preflight:` command may run before it is stopped.
    /// - Throws: `.usage` when `{run}` exists and is not a directory, or the timeout is not a positive number.
    package static func run(spec: PipelineSpec, options: Preflight.Options, checkTimeout: Double = 300) throws
        -> [Preflight.Check]
    {
        guard checkTimeout > 0, checkTimeout.isFinite else {
            throw ResumableError(.usage, "the preflight check timeout must be a positive number of seconds, not \(checkTimeout).")
        }
        let directory = spec.runDirectory
        let found = FileSystem.entryType(directory)
        if found != .missing && !FileSystem.isDirectory(directory) {
            throw ResumableError(
                .usage,
                "the pipeline's run directory \(directory) is \(found == .regular ? "a file" : "not a directory"); `run:` in \(spec.file) must name a directory.",
                path: directory)
        }

        // The stages' runs: their latest checkpoints size the disk-space check.
        var stageChecks: [Preflight.Check] = []
        var largest: (bytes: Int64, label: String)?
        for stage in spec.stages {
            let stageDirectory = self.stageDirectory(stage.name, in: spec)
            guard Preflight.isRun(stageDirectory) else { continue }
            let store: CheckpointStore
            do {
                store = try CheckpointStore(directory: stageDirectory)
            } catch {
                let message = (error as? ResumableError)?.message ?? "\(error)"
                stageChecks.append(.init(name: "stage \(stage.name): latest checkpoint", ok: false, detail: message))
                continue
            }
            let (latest, problem) = Preflight.latestCheckpoint(of: store)
            if latest == nil && problem == nil { continue }
            if let latest, largest.map({ latest.bytes > $0.bytes }) ?? true {
                largest = (latest.bytes, "stage \(stage.name)'s \(Checkpoint.directoryName(step: latest.step))")
            }
            var checkpoint = Preflight.checkpoint(store: store, latest: latest, problem: problem, full: options.full)
            checkpoint.name = "stage \(stage.name): \(checkpoint.name)"
            stageChecks.append(checkpoint)
            var config = Preflight.config(store: store, latest: latest)
            config.name = "stage \(stage.name): \(config.name)"
            stageChecks.append(config)
        }
        if stageChecks.isEmpty {
            let count = spec.stages.count
            stageChecks.append(
                .init(name: "stages", ok: true, detail: "no stage has a checkpoint yet (\(count) stage\(count == 1 ? "" : "s"))"))
        }

        let existing = Preflight.nearestExistingDirectory(directory)
        let expected = options.expectBytes ?? largest?.bytes
        let sizedBy = options.expectBytes != nil ? "--expect-bytes" : largest?.label
        var checks = [
            Preflight.space(at: existing, expected: expected, keep: options.keep ?? Preflight.defaultKeep, sizedBy: sizedBy),
            Preflight.writable(existing, isRun: existing == directory),
            // `pipeline run` checks after taking the lock itself.
            Preflight.lock(directory, allowingThisProcess: true),
        ]
        checks += stageChecks

        let environment = self.environment(for: spec, base: SupervisorConfiguration.processEnvironment())
        for check in spec.preflight {
            checks.append(runUserCheck(check, spec: spec, environment: environment, timeout: checkTimeout))
        }
        return checks
    }

    /// The run directory of stage `name`: `{run}/stages/NAME`.
    package static func stageDirectory(_ name: String, in spec: PipelineSpec) -> String {
        FilePath.join(FilePath.join(spec.runDirectory, "stages"), name)
    }

    /// Runs one `preflight:` command in the pipeline file's directory with
    /// `environment`, stdin `/dev/null`, its stdout and stderr captured (the
    /// last 64 KiB kept). After `timeout` seconds its process group gets
    /// SIGTERM, then SIGKILL 2 s later, and reading stops even when a process
    /// it started holds the output open. Exit 0 passes; otherwise the detail
    /// is `exit N`, `killed by SIGX`, `timed out after Ns` or `cannot start: …`,
    /// followed by the last 3 non-blank lines of its output, one per line,
    /// control characters escaped.
    package static func runUserCheck(
        _ check: PreflightCheck, spec: PipelineSpec, environment: [String: String], timeout: Double
    ) -> Preflight.Check {
        let directory = spec.baseDirectory.isEmpty ? "." : spec.baseDirectory
        let result = CapturedCommand.run(check.command.argv, environment: environment, directory: directory, timeout: timeout)
        var detail: String
        var ok = false
        switch result.ending {
        case .exited(0):
            ok = true
            detail = "exit 0 (\(seconds(result.seconds)))"
        case .exited(let code):
            detail = "exit \(code)"
        case .signaled(let signal):
            detail = "killed by \(SignalName.name(of: signal))"
        case .timedOut(let limit):
            detail = "timed out after \(seconds(limit))"
        case .cannotStart(let why):
            detail = "cannot start: \(CapturedCommand.escapingControlCharacters(why)) (the command at \(check.location))"
        }
        if result.killedLeftovers { detail += "; killed the processes it left holding its output" }
        if !ok {
            for line in result.lastLines(3) { detail += "\n" + line }
        }
        return Preflight.Check(name: check.name, ok: ok, detail: detail)
    }

    /// `2s`, `0.5s`, `1.25s`.
    static func seconds(_ value: Double) -> String {
        if value == value.rounded() && value < 1e15 { return "\(Int64(value))s" }
        let hundredths = (value * 100).rounded() / 100
        return "\(hundredths)s"
    }

    /// The environment of the `preflight:` commands: `base` (the caller's
    /// environment) with `RESUMABLE_PIPELINE_RUN_DIR` (`{run}`, absolute),
    /// and `RESUMABLE_BIN` (this `resumable` binary) unless `base` sets it.
    package static func environment(for spec: PipelineSpec, base: [String: String]) -> [String: String] {
        var env = base
        env["RESUMABLE_PIPELINE_RUN_DIR"] = FilePath.absolute(spec.runDirectory)
        if env["RESUMABLE_BIN"]?.isEmpty ?? true, let binary = runningResumableBinary() {
            env["RESUMABLE_BIN"] = binary
        }
        return env
    }

    /// The path of the running executable when it is the `resumable` command.
    package static func runningResumableBinary() -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard n > 0 else { return nil }
        let path = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return FilePath.lastComponent(of: path) == "resumable" ? path : nil
    }
}
