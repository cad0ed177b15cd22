#if canImport(Glibc)
import Glibc
#endif
import CrashWorkload
import Foundation
import Resumable
import Testing

/// Every write, fsync, rename, open, mkdir and unlink of commit, prune,
/// delete, edit and open made to fail in turn (n = 1, 2, … until the
/// operation no longer reaches an n-th call): the error surfaces as `.io`
/// naming the path, the earlier checkpoints stay whole, `latest` loads,
/// nothing partial is listed, and the next open and commit work.
///
/// Faults are armed with `FaultScope`, for the test's own task only, so these
/// tests do not disturb the tests running beside them.
@Suite("Crash: fault injection at every step of the protocol")
struct FaultInjectionTests {
    /// The kinds of fault tried at every call.
    static let faults: [(point: FaultPoint, errno: Int32, short: Bool)] = [
        (.open, EIO, false), (.write, EIO, false), (.write, ENOSPC, false), (.write, ENOSPC, true),
        (.fsync, EIO, false), (.rename, EIO, false), (.mkdir, EIO, false), (.unlink, EIO, false),
    ]

    /// An operation on a run holding steps 1…6 of `CrashWorkload` (no retention applied yet).
    enum Operation: String, CaseIterable, CustomTestStringConvertible {
        case commit, prune, delete, edit, openCleaningLeftovers, createRun
        var testDescription: String { rawValue }

        /// Performs the operation; returns the warnings of a commit that
        /// succeeded though something failed after its checkpoint became visible.
        @discardableResult
        func perform(on run: String) throws -> [String] {
            if self == .createRun {
                let store = try CheckpointStore(directory: run, access: .write, create: true, logger: CrashInvariants.quietLogger)
                return try store.commit(step: 1) { try CrashWorkload.fill($0) }.warnings
            }
            let store = try CheckpointStore(directory: run, access: .write, logger: CrashInvariants.quietLogger)
            defer { store.close() }
            switch self {
            case .commit:
                store.retention = CrashWorkload.policy
                return try store.commit(step: 7) { try CrashWorkload.fill($0) }.warnings
            case .prune: try store.prune(CrashWorkload.policy)
            case .delete: try store.delete(step: FaultInjectionTests.deletable)
            case .edit: try store.edit(step: 6, [.set(path: "metadata.edited", value: 6)])
            case .openCleaningLeftovers, .createRun: break
            }
            return []
        }
    }

    /// A step of the template that retention may delete.
    static let deletable: Int64 = (1...6).first { !CrashWorkload.mustExist(latest: 6).contains($0) }!

    /// The template run, made once: steps 1…6.
    static let template: String = {
        let run = TestSupport.temporaryDirectory("fault-template") + "/run"
        do {
            let store = try CheckpointStore(directory: run, access: .write, create: true, logger: CrashInvariants.quietLogger)
            for step in Int64(1)...6 { try store.commit(step: step) { try CrashWorkload.fill($0) } }
            store.close()
        } catch {
            Issue.record("cannot make the template run: \(error)")
        }
        return run
    }()

    /// A fresh copy of the template (or an empty directory for `createRun`),
    /// with leftovers of a crashed writer for `openCleaningLeftovers`.
    static func prepare(_ operation: Operation) throws -> String {
        let run = TestSupport.temporaryDirectory("fault") + "/run"
        if operation == .createRun { return run }
        try FileManager.default.copyItem(atPath: template, toPath: run)
        if operation == .openCleaningLeftovers {
            for dir in [".staging/step-000000000007.1.2", ".trash/step-000000000002.3"] {
                let path = run + "/checkpoints/" + dir
                try FileSystem.createDirectory(path)
                for name in ["model.safetensors", "state.json"] {
                    try FileSystem.writeAtomically(Array("partial".utf8), to: path + "/" + name)
                }
            }
        }
        return run
    }

    @Test("a fault at every call surfaces as .io and leaves the run whole", arguments: Operation.allCases)
    func everyFault(_ operation: Operation) throws {
        var triggeredCases = 0
        for kind in Self.faults {
            var nth = 1
            while true {
                let run = try Self.prepare(operation)
                defer { try? FileManager.default.removeItem(atPath: FilePath.parent(of: run)) }
                let scope = FaultScope(FaultInjection.Fault(point: kind.point, nth: nth, errno: kind.errno, short: kind.short))
                let label = "\(operation) with \(kind.point) #\(nth) failing (errno \(kind.errno)\(kind.short ? ", short" : ""))"
                var thrown: (any Error)?
                var warnings: [String] = []
                do { warnings = try scope.run { try operation.perform(on: run) } } catch { thrown = error }
                guard scope.triggered else {
                    #expect(thrown == nil, "\(operation) failed without a fault: \(String(describing: thrown))")
                    #expect(warnings.isEmpty, "\(operation) warned without a fault: \(warnings)")
                    break
                }
                triggeredCases += 1
                var reported: Set<Int64> = operation == .createRun ? [] : Set(1...6)
                if thrown == nil && (operation == .commit || operation == .createRun) {
                    // The fault came after the rename: the checkpoint is committed, and the commit says what failed.
                    #expect(!warnings.isEmpty, "\(label): the fault was swallowed without a warning")
                    reported.insert(operation == .commit ? 7 : 1)
                } else {
                    Self.expectSurfaced(thrown, label: label)
                }
                var failures = CrashInvariants.check(run: run, reported: reported).failures
                failures += Self.nextCommitWorks(run: run)
                if !failures.isEmpty {
                    Issue.record("\(label):\n\(failures.joined(separator: "\n"))")
                    return
                }
                nth += 1
            }
        }
        #expect(triggeredCases > 0)
        FileHandle.standardError.write(Data("fault injection: \(operation): \(triggeredCases) faults injected\n".utf8))
    }

    /// The fault came back as an `.io` error naming a path that is in its message.
    static func expectSurfaced(_ thrown: (any Error)?, label: String) {
        guard let error = thrown as? ResumableError else {
            Issue.record("\(label): expected a ResumableError, got \(String(describing: thrown))")
            return
        }
        #expect(error.code == .io && error.exitCode == 74, "\(label): \(error.code): \(error.message)")
        if let path = error.path {
            #expect(error.message.contains(path), "\(label): the message does not name \(path): \(error.message)")
        } else {
            Issue.record("\(label): the error names no path: \(error.message)")
        }
    }

    /// Opening the run again cleans the leftovers, and a commit works.
    static func nextCommitWorks(run: String) -> [String] {
        do {
            let store = try CheckpointStore(directory: run, access: .write, create: true, logger: CrashInvariants.quietLogger)
            defer { store.close() }
            let staging = CrashInvariants.entries(store.checkpointsDirectory + "/.staging")
            let trash = CrashInvariants.entries(store.checkpointsDirectory + "/.trash")
            guard staging.isEmpty && trash.isEmpty else { return ["the next open left .staging \(staging), .trash \(trash)"] }
            let next = (try store.committedSteps().last ?? 0) + 1
            let committed = try store.commit(step: next) { try CrashWorkload.fill($0) }.checkpoint
            return CrashWorkload.problems(in: committed)
        } catch {
            return ["the next open and commit failed: \(error)"]
        }
    }

    @Test("the writer process exits 74 naming the path for a fault at every call of a commit and prune")
    func processExitCodes() throws {
        var triggeredCases = 0
        for point in FaultPoint.allCases {
            var nth = 1
            while true {
                let run = try Self.prepare(.commit)
                defer { try? FileManager.default.removeItem(atPath: FilePath.parent(of: run)) }
                let writer = try TestProcess.crashWriter(
                    run: run, arguments: ["--steps", "1"], environment: ["RESUMABLE_FAULT": "\(point):\(nth):EIO"],
                    stderrPath: FilePath.parent(of: run) + "/stderr")
                let ended = writer.wait()
                let (status, signaled) = (ended.status, ended.signaled)
                #expect(!signaled)
                if status == 0 { break }
                triggeredCases += 1
                let stderr = writer.stderr
                #expect(status == 74, "\(point) #\(nth): exit \(status): \(stderr)")
                #expect(stderr.contains(run) && stderr.contains("Input/output error"), "\(point) #\(nth): \(stderr)")
                var failures = CrashInvariants.check(run: run, reported: Set(1...6)).failures
                failures += Self.nextCommitWorks(run: run)
                if !failures.isEmpty {
                    Issue.record("RESUMABLE_FAULT=\(point):\(nth):EIO:\n\(failures.joined(separator: "\n"))")
                    return
                }
                nth += 1
                if nth > 200 {
                    Issue.record("\(point) faults never stop triggering")
                    break
                }
            }
        }
        #expect(triggeredCases > 0)
        FileHandle.standardError.write(Data("fault injection (process): \(triggeredCases) faults injected\n".utf8))
    }
}
