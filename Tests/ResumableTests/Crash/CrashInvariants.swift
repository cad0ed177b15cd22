import CrashWorkload
import Foundation
import Logging
import Resumable

/// The state a crash (or an injected fault) may leave a `CrashWorkload` run
/// in, checked: what the design promises after any failure of a writer.
enum CrashInvariants {
    /// What one check saw, for the summary.
    struct Observation {
        var steps: [Int64] = []
        var stagingLeftovers = 0
        var trashLeftovers = 0
    }

    /// A logger that keeps expected notices (lock take-over, cleaned leftovers) out of the test output.
    static let quietLogger: Logger = {
        var logger = Logger(label: "resumable.crash-tests")
        logger.logLevel = .error
        return logger
    }()

    static func entries(_ directory: String) -> [String] {
        ((try? FileSystem.contents(of: directory)) ?? []).filter { !$0.hasPrefix(".tmp") }
    }

    /// Checks a run written by `CrashWorkload` writers after a crash.
    ///
    /// Asserts that nothing partial is listed (every `step-N` directory has a
    /// readable manifest), that every listed checkpoint verifies and holds
    /// exactly its step's content, that every step in `reported` is still there
    /// unless retention may have deleted it (`latest`, and every step
    /// `CrashWorkload.mustExist` names, always are), and that `latest` with
    /// verification resolves to the newest one without skipping anything.
    /// - Returns: `nil` with a list of failures, or what it saw.
    static func check(run: String, reported: Set<Int64>) -> (observation: Observation, failures: [String]) {
        var failures: [String] = []
        var seen = Observation()
        let checkpoints = FilePath.join(run, "checkpoints")
        seen.stagingLeftovers = entries(FilePath.join(checkpoints, ".staging")).count
        seen.trashLeftovers = entries(FilePath.join(checkpoints, ".trash")).count
        guard FileSystem.exists(FilePath.join(run, "run.json")) || FileSystem.isDirectory(checkpoints) else {
            if !reported.isEmpty { failures.append("the run \(run) is gone, but steps \(reported.sorted()) were committed") }
            return (seen, failures)
        }
        let store: CheckpointStore
        do {
            store = try CheckpointStore(directory: run, access: .read, logger: quietLogger)
        } catch {
            return (seen, ["the run does not open: \(error)"])
        }
        do {
            let scan = try store.scan()
            for d in scan.damaged { failures.append("a partial or damaged checkpoint is listed: \(d.directory): \(d.reason)") }
            for c in scan.checkpoints { failures += CrashWorkload.problems(in: c) }
            let steps = scan.checkpoints.map(\.step)
            seen.steps = steps
            let latest = steps.last ?? 0
            if let newest = reported.max(), newest > latest {
                failures.append("step \(newest) was committed, but the newest checkpoint is \(latest)")
            }
            let present = Set(steps)
            let must = CrashWorkload.mustExist(latest: latest)
            for s in must.subtracting(present).sorted() {
                failures.append("step \(s) must never be deleted by retention (latest \(latest)), but it is gone")
            }
            for s in reported.subtracting(present).sorted() where must.contains(s) {
                failures.append("step \(s) was reported committed and is not one retention may delete, but it is gone")
            }
            if latest > 0 {
                if let resolution = try store.latest(verify: true) {
                    if resolution.checkpoint.step != latest || !resolution.skipped.isEmpty {
                        failures.append("latest resolved to \(resolution.checkpoint.step), skipping \(resolution.skipped.map(\.step))")
                    }
                    _ = try resolution.checkpoint.tensors().array("weights", as: Float.self)
                } else {
                    failures.append("latest resolved to nothing though step \(latest) is listed")
                }
            }
        } catch {
            failures.append("reading the run failed: \(error)")
        }
        return (seen, failures)
    }

    /// Opens the run for writing (taking over a dead writer's lock) and checks
    /// that the open cleaned `.staging/` and `.trash/`.
    static func reopenCleans(run: String) -> [String] {
        do {
            let store = try CheckpointStore(directory: run, access: .write, logger: quietLogger)
            defer { store.close() }
            let staging = entries(FilePath.join(store.checkpointsDirectory, ".staging"))
            let trash = entries(FilePath.join(store.checkpointsDirectory, ".trash"))
            if !staging.isEmpty || !trash.isEmpty {
                return ["opening for writing left .staging \(staging) and .trash \(trash)"]
            }
            return []
        } catch {
            return ["opening for writing after the crash failed: \(error)"]
        }
    }
}
