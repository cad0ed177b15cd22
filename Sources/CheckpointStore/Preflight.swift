#if canImport(Glibc)
import Glibc
#endif
import DurableFiles
package import JSON
import SafeTensors

/// The checks `resumable preflight` runs before hours of compute are spent.
///
/// Each check is independent: one that cannot run (a damaged manifest, a
/// failing `statvfs`) fails with the reason instead of stopping the others.
/// A pipeline file is checked by `PipelinePreflight` (target Pipelines),
/// which uses the single checks below on the pipeline's run directory and
/// its stages' runs, then runs the file's own `preflight:` commands.
/// `resumable preflight` prints the result.
package enum Preflight {
    /// One line of the checklist.
    package struct Check: Equatable, Sendable {
        package var name: String
        package var ok: Bool
        package var detail: String

        package init(name: String, ok: Bool, detail: String) {
            self.name = name
            self.ok = ok
            self.detail = detail
        }

        package var json: JSONValue { ["name": .string(name), "ok": .bool(ok), "detail": .string(detail)] }
    }

    /// A check added from outside (a pipeline file's `preflight:` entry): a
    /// name and what runs it, returning whether it passed and a detail line.
    package struct ExtraCheck {
        package var name: String
        package var run: () -> (ok: Bool, detail: String)

        package init(name: String, run: @escaping () -> (ok: Bool, detail: String)) {
            self.name = name
            self.run = run
        }
    }

    /// What preflight looks at.
    package struct Options: Sendable {
        /// Verify checksums, not only sizes.
        package var full: Bool
        /// The expected size of one checkpoint; `nil`: the latest checkpoint's.
        package var expectBytes: Int64?
        /// How many checkpoints are kept; `nil`: 3.
        package var keep: Int?

        package init(full: Bool = false, expectBytes: Int64? = nil, keep: Int? = nil) {
            self.full = full
            self.expectBytes = expectBytes
            self.keep = keep
        }
    }

    package static let defaultKeep = 3

    /// Runs every built-in check on the run in `directory` (which may not
    /// exist yet: then space and writability are checked on its nearest
    /// existing ancestor), then `extraChecks` in order.
    /// - Throws: `.corrupt` when `run.json` cannot be read.
    package static func run(_ directory: String, options: Options, extraChecks: [ExtraCheck] = []) throws -> [Check] {
        let found = FileSystem.entryType(directory)
        if found != .missing && !FileSystem.isDirectory(directory) {
            throw ResumableError(.usage, "\(directory) is \(found == .regular ? "a file" : "not a directory"), not a run directory.", path: directory)
        }
        let store = isRun(directory) ? try CheckpointStore(directory: directory) : nil
        let (latest, latestProblem) = store.map(latestCheckpoint(of:)) ?? (nil, nil)
        let existing = nearestExistingDirectory(directory)
        var checks = [
            space(at: existing, expected: options.expectBytes ?? latest?.bytes, keep: options.keep ?? defaultKeep,
                  sizedBy: options.expectBytes != nil ? "--expect-bytes" : latest.map { Checkpoint.directoryName(step: $0.step) }),
            writable(existing, isRun: existing == directory),
            lock(directory),
            checkpoint(store: store, latest: latest, problem: latestProblem, full: options.full),
            config(store: store, latest: latest),
        ]
        for extra in extraChecks {
            let (ok, detail) = extra.run()
            checks.append(Check(name: extra.name, ok: ok, detail: detail))
        }
        return checks
    }

    /// Whether `directory` holds a checkpoint-store run (`run.json` or `checkpoints/`).
    package static func isRun(_ directory: String) -> Bool {
        FileSystem.exists(FilePath.join(directory, "run.json"))
            || FileSystem.isDirectory(FilePath.join(directory, "checkpoints"))
    }

    /// The store's latest committed checkpoint (`nil` when it has none), or
    /// why it cannot be read (its manifest is damaged, the directory unreadable).
    package static func latestCheckpoint(of store: CheckpointStore) -> (latest: Checkpoint?, problem: String?) {
        do {
            guard let step = try store.committedSteps().last else { return (nil, nil) }
            do {
                return (try store.checkpoint(step: step), nil)
            } catch let error as ResumableError {
                return (nil, "\(Checkpoint.directoryName(step: step)): \(error.message)")
            }
        } catch let error as ResumableError {
            return (nil, error.message)
        } catch {
            return (nil, "\(error)")
        }
    }

    /// `directory` when it is one, else its nearest existing ancestor.
    package static func nearestExistingDirectory(_ directory: String) -> String {
        var path = directory
        while !FileSystem.isDirectory(path) {
            let parent = FilePath.parent(of: path)
            if parent == path || parent.isEmpty { return "." }
            path = parent
        }
        return path
    }

    /// Free space ≥ expected checkpoint size × (kept + 2): the kept ones, the
    /// one being written and the one pruning has not removed yet.
    package static func space(at path: String, expected: Int64?, keep: Int, sizedBy: String?) -> Check {
        let name = "disk space"
        guard let free = FileSystem.availableBytes(at: path) else {
            return Check(name: name, ok: false, detail: "cannot read the free space of \(path) (statvfs: \(String(cString: strerror(errno))))")
        }
        guard let expected, let sizedBy else {
            return Check(
                name: name, ok: true,
                detail: "\(HumanFormat.bytes(free)) free on \(path); no checkpoint yet to size against (--expect-bytes N sets one)")
        }
        let (need, overflow) = expected.multipliedReportingOverflow(by: Int64(keep) + 2)
        let required = overflow ? Int64.max : need
        let sizes = "\(HumanFormat.bytes(free)) free on \(path), \(HumanFormat.bytes(required)) needed (\(HumanFormat.bytes(expected)) per checkpoint from \(sizedBy) × (\(keep) kept + 2))"
        return Check(name: name, ok: free >= required, detail: sizes)
    }

    /// Creates and removes a probe file in `directory`. The probe is created
    /// with `O_EXCL`, which never follows a symbolic link.
    package static func writable(_ directory: String, isRun: Bool) -> Check {
        let name = "writable"
        let what = isRun ? directory : "\(directory) (the run will be created inside it)"
        let probe = FilePath.join(directory, ".resumable-preflight-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        do {
            let file = try DurableFile.create(probe)
            defer { _ = unlink(probe) }
            try file.write([0x2E])
            try file.close()
            guard unlink(probe) == 0 else {
                return Check(name: name, ok: false, detail: "\(what): cannot remove a file (\(String(cString: strerror(errno))))")
            }
            return Check(name: name, ok: true, detail: what)
        } catch let error as ResumableError {
            return Check(name: name, ok: false, detail: error.message)
        } catch {
            return Check(name: name, ok: false, detail: "\(what): \(error)")
        }
    }

    /// Nobody live holds the run's lock. With `allowingThisProcess`, a lock
    /// this process holds passes (a caller that took the lock, then checks).
    package static func lock(_ directory: String, allowingThisProcess: Bool = false) -> Check {
        let name = "lock"
        guard let owner = RunLock.currentOwner(directory: directory) else {
            return Check(name: name, ok: true, detail: "free")
        }
        if allowingThisProcess && owner.pid == getpid() && owner.host == RunLock.hostName() {
            return Check(name: name, ok: true, detail: "held by this process (pid \(owner.pid))")
        }
        var detail = "held by pid \(owner.pid) on \(owner.host) since \(owner.startedAt)"
        if !owner.command.isEmpty { detail += ": \(owner.command)" }
        return Check(name: name, ok: false, detail: detail)
    }

    /// The latest checkpoint's files have their recorded sizes (`--full`: checksums).
    package static func checkpoint(store: CheckpointStore?, latest: Checkpoint?, problem: String?, full: Bool) -> Check {
        let name = "latest checkpoint"
        if let problem { return Check(name: name, ok: false, detail: problem) }
        guard let store, let latest else { return Check(name: name, ok: true, detail: "no checkpoint yet") }
        let label = Checkpoint.directoryName(step: latest.step)
        let problems: [FileProblem]
        if full {
            do {
                problems = try store.verify(latest).problems
            } catch let error as ResumableError {
                return Check(name: name, ok: false, detail: "\(label): \(error.message)")
            } catch {
                return Check(name: name, ok: false, detail: "\(label): \(error)")
            }
        } else {
            problems = quickCheck(latest)
        }
        guard problems.isEmpty else {
            return Check(name: name, ok: false, detail: "\(label): " + problems.map { "\($0)" }.joined(separator: "; "))
        }
        let how = full ? "checksums verified" : "sizes and safetensors headers check out (--full verifies checksums)"
        return Check(name: name, ok: true, detail: "\(label), \(HumanFormat.bytes(latest.bytes)): \(how)")
    }

    /// The quick check: every file has its recorded size
    /// (`CheckpointStore.quickCheck`), and every `.safetensors` file's header
    /// parses and fits the file (only the header is read; never through a link).
    package static func quickCheck(_ checkpoint: Checkpoint) -> [FileProblem] {
        var problems = CheckpointStore.quickCheck(checkpoint)
        let damaged = Set(problems.map(\.file))
        for record in checkpoint.manifest.files where record.name.hasSuffix(".safetensors") && !damaged.contains(record.name) {
            do {
                _ = try SafeTensorsFile(path: checkpoint.path(of: record.name), followingSymlinks: false)
            } catch let error as ResumableError {
                problems.append(FileProblem(file: record.name, tensors: [], reason: "its header is damaged: \(error.message)"))
            } catch {
                problems.append(FileProblem(file: record.name, tensors: [], reason: "its header is damaged: \(error)"))
            }
        }
        return problems
    }

    /// The latest checkpoint was written with the configuration `run.json` records.
    package static func config(store: CheckpointStore?, latest: Checkpoint?) -> Check {
        let name = "config"
        guard let store, let latest else { return Check(name: name, ok: true, detail: "no checkpoint to compare") }
        let recorded = store.run.configFingerprint
        let used = latest.manifest.configFingerprint
        guard !recorded.isEmpty, !used.isEmpty else {
            return Check(name: name, ok: true, detail: "no fingerprint recorded to compare")
        }
        let label = Checkpoint.directoryName(step: latest.step)
        if recorded == used { return Check(name: name, ok: true, detail: "\(label) matches run.json (\(recorded))") }
        return Check(name: name, ok: false, detail: "\(label) was written with config \(used), run.json records \(recorded)")
    }
}
