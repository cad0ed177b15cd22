import DurableFiles
import Glibc

/// `resumable pipeline reset FILE [STAGE…]`: marks stages and everything
/// downstream of them `not_started` in the ledger, under the pipeline run's
/// lock, so it never races a live `pipeline run`.
///
/// Only the ledger changes: the stages' run directories, checkpoints, logs
/// and outputs are left as they are, so a reset stage runs again (and may
/// resume from its latest checkpoint); `resumable reset {run}/stages/NAME`
/// deletes a stage's checkpoints.
public enum PipelineReset {
    /// What a reset did.
    public struct Outcome: Sendable, Hashable {
        /// The stages whose record was reset (those that were not already
        /// `not_started` with nothing recorded), in dependency order.
        public var reset: [String]
    }

    /// Resets `stages` (every stage when empty) and everything downstream of them.
    ///
    /// Takes `{run}/.lock` (as `pipeline run` holds it for its whole life),
    /// removes the temporary files of ledger writes that were killed, reads
    /// the ledger, resets, and writes it atomically (temporary file, fsync,
    /// rename, fsync of the directory) with the pipeline's outline. A run
    /// directory or ledger that does not exist is nothing to reset (nothing is created).
    /// - Throws: `.usage` (64) naming a stage that is not in the pipeline, with the
    ///   stages; `.locked` (75) naming the live holder of the lock; `.corrupt` (65)
    ///   for a ledger that cannot be read (it is left as it is).
    public static func run(spec: PipelineSpec, stages names: [String]) throws -> Outcome {
        for name in names where spec.stage(named: name) == nil {
            throw ResumableError(
                .usage, "\(name) is not a stage of pipeline \(spec.name); the stages are \(spec.stages.map(\.name).joined(separator: ", ")).")
        }
        let run = spec.runDirectory
        switch FileSystem.entryType(run) {
        case .missing: return Outcome(reset: [])
        case .directory: break
        case .symbolicLink where FileSystem.isDirectory(run): break  // the run directory itself may be a link
        case let found: throw FileSystem.misplacedEntry(run, found: found, expected: .directory)
        }
        let ledgerPath = StageLedger.path(in: run)
        if FileSystem.entryType(ledgerPath) == .missing && FileSystem.entryType(FilePath.join(run, ".lock")) == .missing {
            return Outcome(reset: [])  // never run: nothing to reset, and nothing is created
        }
        let lock: RunLock
        do {
            lock = try RunLock.acquire(directory: run)
        } catch let error as ResumableError where error.code == .locked {
            throw ResumableError(
                .locked, "\(error.message) The ledger \(ledgerPath) is left as it is: reset the pipeline when that `pipeline run` has ended.",
                path: error.path)
        }
        defer { lock.release() }
        if lock.isBorrowed {
            throw ResumableError(
                .locked,
                "the pipeline run \(run) is held by the process that lent this one RESUMABLE_LOCK_TOKEN; a stage cannot reset its own pipeline while it runs.",
                path: FilePath.join(run, ".lock"))
        }
        StageLedger.removeStaleTemporaries(runDirectory: run)
        guard var ledger = try StageLedger.read(runDirectory: run) else { return Outcome(reset: []) }
        let before = ledger
        let touched = try ledger.reset(names.isEmpty ? spec.stages.map(\.name) : names, in: spec)
        ledger.pipeline = PipelineOutline(spec)
        try ledger.write(runDirectory: run)
        return Outcome(reset: touched.filter { before.record($0) != StageRecord() })
    }
}

extension StageLedger {
    /// The prefix of the temporary files a ledger write makes beside `stages.json`
    /// (`stages.json.tmp-PID-RANDOM`, `FileSystem.writeAtomically`).
    static let temporaryPrefix = fileName + ".tmp-"

    /// Removes the temporary files that ledger writes killed before their
    /// rename left beside `stages.json`. Call it only while holding the
    /// pipeline run's lock: every ledger writer holds it, so any temporary
    /// found then belongs to a writer that is gone. Never fails; returns the names removed.
    @discardableResult
    public static func removeStaleTemporaries(runDirectory: String) -> [String] {
        guard let names = try? FileSystem.contents(of: runDirectory) else { return [] }
        var removed: [String] = []
        for name in names where name.hasPrefix(temporaryPrefix) {
            let path = FilePath.join(runDirectory, name)
            guard FileSystem.entryType(path) == .regular, unlink(path) == 0 else { continue }
            removed.append(name)
        }
        return removed
    }
}
