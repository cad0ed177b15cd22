#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import Resumable
import Testing

/// Attacks on `resumable commit` through the built binary: SIGKILL a
/// `commit --move` at random instants, truncate a source while it is copied.
///
/// `RESUMABLE_MOVE_KILLS` sets the number of kills (default 100),
/// `RESUMABLE_TRUNCATE_TRIES` the number of truncations (default 20),
/// `RESUMABLE_CRASH_SEED` replays a sequence of delays.
@Suite("Attack: commit --move killed, sources changed while committed")
struct AttackCommitTests {
    static var kills: Int { ProcessInfo.processInfo.environment["RESUMABLE_MOVE_KILLS"].flatMap(Int.init) ?? 100 }
    static var truncations: Int { ProcessInfo.processInfo.environment["RESUMABLE_TRUNCATE_TRIES"].flatMap(Int.init) ?? 20 }
    static var seed: UInt64 {
        ProcessInfo.processInfo.environment["RESUMABLE_CRASH_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 0...UInt64.max)
    }

    /// Writes a source directory of 8 files (one safetensors, seven of 2 MiB)
    /// whose content depends on `index`; returns each file's SHA-256.
    static func makeSource(_ directory: String, index: Int) throws -> [String: String] {
        try FileSystem.createDirectory(directory)
        let values = (0..<(1 << 18)).map { Float($0 % 1000) + Float(index) }
        try SafeTensorsWriter.write([TensorSource(name: "w", dtype: .f32, shape: [values.count], values: values)], to: directory + "/model.safetensors")
        for k in 1..<8 {
            var bytes = [UInt8](repeating: UInt8(truncatingIfNeeded: index &* 31 &+ k), count: 2 << 20)
            let tag = Array("file \(k) of source \(index)\n".utf8)
            bytes.replaceSubrange(0..<tag.count, with: tag)
            guard FileManager.default.createFile(atPath: directory + "/part-\(k).bin", contents: Data(bytes)) else {
                throw ResumableError(.io, "cannot write \(directory)/part-\(k).bin")
            }
        }
        var hashes: [String: String] = [:]
        for name in try FileSystem.contents(of: directory) { hashes[name] = try Checksum.sha256(ofFile: directory + "/" + name) }
        return hashes
    }

    static let quietLogger: Logger = {
        var logger = Logger(label: "resumable.attack-tests")
        logger.logLevel = .error
        return logger
    }()

    @Test("SIGKILL of `commit --move` at 100 random instants: every file stays in its source directory or a committed, complete checkpoint, byte-identical")
    func killMoveRepeatedly() throws {
        let base = TestSupport.temporaryDirectory("attack-move")
        defer { try? FileManager.default.removeItem(atPath: base) }
        let run = base + "/run"
        let seed = Self.seed
        var random = SplitMix64(seed: seed)
        // Two uncut moves (the first creates the run), to know how long the window for the kills is.
        var window = 0.02
        for step in [1_000_000, 1_000_001] {
            let first = base + "/src-\(step)"
            _ = try Self.makeSource(first, index: step)
            let began = Date()
            let uncut = try TestSupport.resumable("commit", run, "--step", String(step), "--move", first)
            window = max(0.02, Date().timeIntervalSince(began) * 1.2)
            #expect(uncut.status == 0, "\(uncut)")
            #expect(try FileSystem.contents(of: first).isEmpty, "an uncut move leaves the source directory empty")
        }

        var outcomes = (beforeCommit: 0, midMove: 0, afterCommit: 0, finished: 0, retried: 0, retryFinishedMove: 0)
        var done = 0
        for index in 1...Self.kills {
            done = index
            let source = base + "/src-\(index)"
            let hashes = try Self.makeSource(source, index: index)
            let process = try TestProcess(
                TestSupport.resumable, ["commit", run, "--step", String(index), "--move", source], stdout: .discard,
                stderr: .discard)
            usleep(UInt32(Double(random.next() % 1000) / 1000 * window * 1_000_000))
            process.signal(SIGKILL)
            let ended = process.wait()
            let checkpointDirectory = run + "/checkpoints/" + Checkpoint.directoryName(step: Int64(index))
            let left = try FileSystem.contents(of: source).count
            let staging = run + "/checkpoints/.staging"
            let staged = ((try? FileSystem.contents(of: staging)) ?? []).reduce(0) {
                $0 + ((try? FileSystem.contents(of: staging + "/" + $1).count) ?? 0)
            }
            // The window adapts so that kills keep landing inside the move as the machine's load changes.
            if !ended.signaled {
                #expect(ended.status == 0, "kill \(index): the move ended by itself with \(ended.status)")
                outcomes.finished += 1
                window *= 0.85
            } else if FileSystem.exists(checkpointDirectory) {
                outcomes.afterCommit += 1
            } else if staged > 0 {
                outcomes.midMove += 1
            } else {
                outcomes.beforeCommit += 1
                window *= 1.1
            }
            var failures: [String] = []
            // Half the time the job retries the same move, as a script would.
            if random.next() % 2 == 0 {
                outcomes.retried += 1
                let retry = try TestSupport.resumable("commit", run, "--step", String(index), "--move", source)
                if left == 0 {
                    if retry.status != 64 { failures.append("a retry on an emptied source directory: \(retry)") }
                } else if retry.status != 0 {
                    failures.append("the retried move failed: \(retry)")
                } else {
                    if FileSystem.exists(checkpointDirectory) && retry.stderr.contains("interrupted") { outcomes.retryFinishedMove += 1 }
                    if try !FileSystem.contents(of: source).isEmpty { failures.append("the retried move left files in \(source)") }
                }
            }
            // The next writer takes over the lock and cleans .staging/.
            let store = try CheckpointStore(directory: run, access: .write, logger: Self.quietLogger)
            store.close()
            // Every file is in the source or in the checkpoint, byte-identical.
            for (name, hash) in hashes.sorted(by: { $0.key < $1.key }) {
                let inSource = (try? Checksum.sha256(ofFile: source + "/" + name))
                let inCheckpoint = (try? Checksum.sha256(ofFile: checkpointDirectory + "/" + name))
                if inSource == nil && inCheckpoint == nil { failures.append("\(name) is lost: in neither \(source) nor \(checkpointDirectory)") }
                if let inSource, inSource != hash { failures.append("\(source)/\(name) changed") }
                if let inCheckpoint, inCheckpoint != hash { failures.append("\(checkpointDirectory)/\(name) is not the source's bytes") }
            }
            // A committed checkpoint holds all the files and verifies.
            if FileSystem.exists(checkpointDirectory) {
                do {
                    let checkpoint = try store.checkpoint(step: Int64(index))
                    let names = checkpoint.manifest.files.map(\.name).sorted()
                    if names != hashes.keys.sorted() { failures.append("step \(index) is committed with only \(names)") }
                    for record in checkpoint.manifest.files where hashes[record.name] != record.sha256 {
                        failures.append("step \(index) records \(record.name) with a SHA-256 other than the source's")
                    }
                    if try !store.verify(checkpoint).isIntact { failures.append("step \(index) does not verify") }
                } catch {
                    failures.append("step \(index) cannot be read: \(error)")
                }
            }
            if !failures.isEmpty {
                let details = failures.joined(separator: "\n")
                Issue.record("after kill \(index) (seed \(seed), \(left) file(s) left in the source):\n\(details)")
                break
            }
            try FileSystem.removeTree(source)
            try FileSystem.removeTree(checkpointDirectory)
        }
        let summary =
            "commit --move kill test (seed \(seed)): \(done) kills, final window \(Int(window * 1000)) ms; "
            + "killed before anything was staged \(outcomes.beforeCommit), with files staged \(outcomes.midMove), after the commit \(outcomes.afterCommit), finished first \(outcomes.finished); "
            + "retried \(outcomes.retried), of which \(outcomes.retryFinishedMove) finished an interrupted move\n"
        FileHandle.standardError.write(Data(summary.utf8))
    }

    @Test("a source truncated while `commit` copies it: never a signal; exit 65 \"changed while it was being committed\", or 0 with the original bytes (20 tries)")
    func truncateWhileCommitting() throws {
        let base = TestSupport.temporaryDirectory("attack-truncate")
        defer { try? FileManager.default.removeItem(atPath: base) }
        let source = base + "/src"
        let run = base + "/run"
        try FileSystem.createDirectory(source)
        let file = source + "/blob.bin"
        var content = [UInt8](repeating: 0, count: 128 << 20)
        for i in stride(from: 0, to: content.count, by: 4096) { content[i] = UInt8(truncatingIfNeeded: i >> 12) }
        let original = Data(content)
        content = []
        let originalHash = original.withUnsafeBytes { Checksum.sha256($0) }
        let seed = Self.seed
        var random = SplitMix64(seed: seed)
        // One uncut commit, to know how long the copy takes.
        #expect(FileManager.default.createFile(atPath: file, contents: original))
        let began = Date()
        let uncut = try TestSupport.resumable("commit", run, "--step", "0", source)
        let window = max(0.01, Date().timeIntervalSince(began))
        #expect(uncut.status == 0, "\(uncut)")

        var changed = 0
        var finished = 0
        for attempt in 1...Self.truncations {
            #expect(FileManager.default.createFile(atPath: file, contents: original))
            let process = try TestProcess(
                TestSupport.resumable, ["commit", run, "--step", String(attempt), source], stdout: .discard,
                stderr: .file(base + "/stderr-\(attempt)"))
            // Once the commit has begun (its staging directory exists), truncate at a random instant of the copy.
            var waited = 0
            while process.isRunning && (try? FileSystem.contents(of: run + "/checkpoints/.staging"))?.isEmpty != false && waited < 5000 {
                usleep(200)
                waited += 1
            }
            usleep(UInt32(Double(random.next() % 1000) / 1000 * window * 0.5 * 1_000_000))
            let shortened = original.count / [2, 3, 4][attempt % 3]
            _ = truncate(file, off_t(shortened))
            let ended = process.wait()
            let stderr = ended.stderr
            let step = Int64(attempt)
            let store = try CheckpointStore(directory: run)
            if ended.signaled {
                Issue.record("try \(attempt) (seed \(seed)): commit died of signal \(ended.status): \(stderr)")
                break
            } else if ended.status == 65 {
                changed += 1
                #expect(stderr.contains("blob.bin changed while it was being committed"), "try \(attempt): \(stderr)")
                #expect(try !store.committedSteps().contains(step), "try \(attempt): a failed commit left a checkpoint")
            } else if ended.status == 0 {
                finished += 1
                // Finished before the truncation (the original bytes), or — rarely — opened the file only after it (the shorter file).
                let checkpoint = try store.checkpoint(step: step)
                let claimed = checkpoint.manifest.files.first?.sha256
                let shorter = original.prefix(shortened).withUnsafeBytes { Checksum.sha256($0) }
                #expect(claimed == originalHash || claimed == shorter, "try \(attempt): the checkpoint claims bytes the file never held")
                #expect(try Checksum.sha256(ofFile: checkpoint.path(of: "blob.bin")) == claimed, "try \(attempt)")
                #expect(try store.verify(checkpoint).isIntact, "try \(attempt)")
                try FileSystem.removeTree(checkpoint.directory)
            } else {
                Issue.record("try \(attempt) (seed \(seed)): commit exited \(ended.status): \(stderr)")
                break
            }
        }
        #expect(changed > 0, "no truncation landed during a copy (\(finished) commits finished first)")
        FileHandle.standardError.write(
            Data("commit truncation test (seed \(seed)): \(Self.truncations) tries, window \(Int(window * 1000)) ms; exit 65 \(changed), finished first \(finished)\n".utf8))
    }

    @Test("a retried `commit --move` after a kill between the commit and the removals finishes the move; other content conflicts; a symlink is refused")
    func retryAfterInterruptedMove() throws {
        let base = TestSupport.temporaryDirectory("attack-move-retry")
        defer { try? FileManager.default.removeItem(atPath: base) }
        let run = base + "/run"
        let source = base + "/src"
        let hashes = try Self.makeSource(source, index: 7)
        // The state a kill after the commit's rename leaves: the checkpoint holds the files, the source still has them.
        let copied = try TestSupport.resumable("commit", run, "--step", "7", source)
        #expect(copied.status == 0, "\(copied)")
        // Some removals had happened.
        try FileSystem.removeTree(source + "/part-3.bin")
        let retry = try TestSupport.resumable("commit", run, "--step", "7", "--move", source)
        #expect(retry.status == 0, "\(retry)")
        #expect(retry.stdout == CLIFixture.checkpoint(run, 7) + "\n")
        #expect(retry.stderr.contains("interrupted"), "\(retry.stderr)")
        #expect(try FileSystem.contents(of: source).isEmpty)
        let checkpoint = try CheckpointStore(directory: run).checkpoint(step: 7)
        for (name, hash) in hashes { #expect(try Checksum.sha256(ofFile: checkpoint.path(of: name)) == hash) }

        // Different bytes at that step: a conflict, and the sources stay.
        let other = base + "/other"
        _ = try Self.makeSource(other, index: 8)
        let conflict = try TestSupport.resumable("commit", run, "--step", "7", "--move", other)
        #expect(conflict.status == 1, "\(conflict)")
        #expect(try FileSystem.contents(of: other).count == 8)

        // A symbolic link is not moved (exit 64), and nothing is lost.
        let linked = base + "/linked"
        try FileSystem.createDirectory(linked)
        #expect(symlink(other + "/part-1.bin", linked + "/part-1.bin") == 0)
        let refused = try TestSupport.resumable("commit", run, "--step", "9", "--move", linked)
        #expect(refused.status == 64, "\(refused)")
        #expect(refused.stderr.contains("symbolic link"), "\(refused.stderr)")
        #expect(FileSystem.exists(other + "/part-1.bin") && FileSystem.exists(linked + "/part-1.bin"))
        #expect(try !CheckpointStore(directory: run).committedSteps().contains(9))
    }

    @Test("--move across file systems (EXDEV) copies the files and removes the sources after the commit")
    func moveAcrossFileSystems() throws {
        let run = TestSupport.temporaryDirectory("attack-move-xdev") + "/run"
        defer { try? FileManager.default.removeItem(atPath: FilePath.parent(of: run)) }
        // /dev/shm is a tmpfs on Linux: another file system than the temporary directory's, usually.
        var shm = stat()
        var tmp = stat()
        guard stat("/dev/shm", &shm) == 0, stat(FilePath.parent(of: run), &tmp) == 0, shm.st_dev != tmp.st_dev,
            access("/dev/shm", W_OK) == 0
        else { return }
        let source = "/dev/shm/resumable-attack-move-xdev-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: source) }
        let hashes = try Self.makeSource(source, index: 3)
        let outcome = try TestSupport.resumable("commit", run, "--step", "3", "--move", source)
        #expect(outcome.status == 0, "\(outcome)")
        #expect(try FileSystem.contents(of: source).isEmpty, "the sources are removed after the commit")
        let store = try CheckpointStore(directory: run)
        let checkpoint = try store.checkpoint(step: 3)
        for (name, hash) in hashes { #expect(try Checksum.sha256(ofFile: checkpoint.path(of: name)) == hash, "\(name)") }
        #expect(try store.verify(checkpoint).isIntact)
    }
}
