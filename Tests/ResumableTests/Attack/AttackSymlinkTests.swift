import Foundation
import Resumable
import Testing

/// Issue 10, items 1, 2 and 11: links planted inside a run. Nothing Resumable
/// deletes, writes, renames, appends to or reads inside a run is reached
/// through a symbolic link; every command refuses such a run with exit 65 and
/// a message naming the link, and whatever the link points to is untouched.
@Suite("Attack: symbolic links planted in a run")
struct AttackSymlinkTests {
    /// A directory outside the run with files that must survive every attack.
    struct Victim {
        let directory: String
        let files = ["precious.txt": "do not delete", "notes.md": "mine"]

        init(_ base: String) throws {
            directory = base + "/victim"
            try FileSystem.createDirectory(directory)
            for (name, text) in files { try Data(text.utf8).write(to: URL(fileURLWithPath: directory + "/" + name)) }
        }

        /// Every file is still there, byte-identical, and nothing was added.
        func isIntact() -> Bool {
            guard let names = try? FileSystem.contents(of: directory), Set(names) == Set(files.keys) else { return false }
            return files.allSatisfy { name, text in
                (try? String(contentsOfFile: directory + "/" + name, encoding: .utf8)) == text
            }
        }
    }

    /// A run with checkpoints at 100, 200, 300 (through the library) and a victim beside it.
    static func setUp(_ label: String) throws -> (run: String, source: String, victim: Victim) {
        let run = try CLIFixture.makeRun(label)
        let base = FilePath.parent(of: run)
        let source = try CLIFixture.sourceDirectory(label + "-src")
        return (run, source, try Victim(base))
    }

    static func cleanUp(_ run: String, _ source: String) {
        try? FileManager.default.removeItem(atPath: FilePath.parent(of: run))
        try? FileManager.default.removeItem(atPath: source)
    }

    static func plantLink(at path: String, to target: String) throws {
        try? FileManager.default.removeItem(atPath: path)
        try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: target)
    }

    @Test(
        "a symlinked .staging or .trash is refused by commit, edit, prune and run; the directory it points to is untouched",
        arguments: [".staging", ".trash"])
    func stagingAndTrash(name: String) throws {
        let (run, source, victim) = try Self.setUp("attack-link")
        defer { Self.cleanUp(run, source) }
        try Self.plantLink(at: run + "/checkpoints/" + name, to: victim.directory)
        let attempts: [[String]] = [
            ["commit", run, "--step", "400", source],
            ["edit", run + "@step-100", "--tag", "x"],
            ["prune", run, "--keep-last", "1"],
            ["run", "--run-dir", run, "--", "/bin/true"],
        ]
        for arguments in attempts {
            let outcome = try TestSupport.run(TestSupport.resumable, arguments, deadline: 60)
            #expect(outcome.status == 65, "\(arguments[0]): \(outcome)")
            #expect(outcome.stderr.contains(name) && outcome.stderr.contains("symbolic link"), "\(arguments[0]): \(outcome.stderr)")
            #expect(victim.isIntact(), "\(arguments[0]) changed the directory the link points to")
        }
        let names = try FileSystem.contents(of: run + "/checkpoints").filter { $0.hasPrefix("step-") }.sorted()
        #expect(names == [100, 200, 300].map { Checkpoint.directoryName(step: $0) }, "nothing was committed or pruned")
    }

    @Test("a symlinked checkpoints directory is refused by readers and writers")
    func checkpointsDirectory() throws {
        let (run, source, victim) = try Self.setUp("attack-link")
        defer { Self.cleanUp(run, source) }
        try FileManager.default.moveItem(atPath: run + "/checkpoints", toPath: victim.directory + "/../moved")
        try Self.plantLink(at: run + "/checkpoints", to: victim.directory)
        for arguments in [["commit", run, "--step", "400", source], ["ls", run], ["prune", run, "--keep-last", "1"]] {
            let outcome = try TestSupport.run(TestSupport.resumable, arguments, deadline: 60)
            #expect(outcome.status == 65, "\(arguments[0]): \(outcome)")
            #expect(outcome.stderr.contains("checkpoints"), "\(arguments[0]): \(outcome.stderr)")
            #expect(victim.isIntact())
        }
    }

    @Test("a step directory that is a link is listed as damaged, never edited through, and pruning removes only the link")
    func stepDirectoryLink() throws {
        let (run, source, _) = try Self.setUp("attack-link")
        defer { Self.cleanUp(run, source) }
        // A real checkpoint moved outside the run, reached through a link named like a newer step.
        let outside = FilePath.parent(of: run) + "/outside-step"
        try FileManager.default.copyItem(atPath: CLIFixture.checkpoint(run, 300), toPath: outside)
        let manifestBefore = try Data(contentsOf: URL(fileURLWithPath: outside + "/manifest.json"))
        try Self.plantLink(at: CLIFixture.checkpoint(run, 400), to: outside)
        let scan = try CheckpointStore(directory: run).scan()
        #expect(scan.checkpoints.map(\.step) == [100, 200, 300])
        #expect(scan.damaged.map(\.step) == [400])
        #expect(scan.damaged.first?.reason.contains("symbolic link") == true)

        let edit = try TestSupport.resumable("edit", run + "@step-400", "--tag", "x", deadline: 60)
        #expect(edit.status == 65, "\(edit)")
        let verify = try TestSupport.resumable("verify", run + "@step-400", deadline: 60)
        #expect(verify.status == 65, "\(verify)")
        let prune = try TestSupport.resumable("prune", run, "--keep-last", "1", deadline: 60)
        #expect([0, 65].contains(prune.status), "\(prune)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: outside + "/manifest.json")) == manifestBefore)
        #expect(try FileSystem.contents(of: outside).sorted() == ["manifest.json", "model.safetensors", "state.json"])
    }

    @Test("verify and load refuse a checkpoint file that is a link (verify once hashed /etc/hostname)")
    func dataFileLink() throws {
        let (run, source, victim) = try Self.setUp("attack-link")
        defer { Self.cleanUp(run, source) }
        let file = CLIFixture.checkpoint(run, 300) + "/state.json"
        try Self.plantLink(at: file, to: victim.directory + "/precious.txt")
        let verify = try TestSupport.resumable("verify", run + "@step-300", deadline: 60)
        #expect(verify.status == 65, "\(verify)")
        #expect(verify.stdout.contains("symbolic link") || verify.stderr.contains("symbolic link"), "\(verify)")
        let checkpoint = try CheckpointStore(directory: run).checkpoint(step: 300)
        #expect(throws: ResumableError.self) { try checkpoint.decodeState([String: Double].self) }
        let report = try CheckpointStore.verify(checkpoint)
        #expect(report.problems.map(\.file) == ["state.json"])
        try Self.plantLink(at: CLIFixture.checkpoint(run, 200) + "/model.safetensors", to: CLIFixture.checkpoint(run, 100) + "/model.safetensors")
        #expect(throws: ResumableError.self) { try CheckpointStore(directory: run).checkpoint(step: 200).tensors() }
        #expect(victim.isIntact())
    }

    @Test(".lock, events.jsonl and run.json links are refused; their targets are neither truncated nor appended to")
    func runFiles() throws {
        for name in [".lock", "events.jsonl", "run.json"] {
            let (run, source, victim) = try Self.setUp("attack-link")
            defer { Self.cleanUp(run, source) }
            let target = victim.directory + "/precious.txt"
            if name == "run.json" {
                try FileManager.default.moveItem(atPath: run + "/run.json", toPath: victim.directory + "/../run.json")
            }
            try Self.plantLink(at: run + "/" + name, to: target)
            for arguments in [["commit", run, "--step", "400", source], ["edit", run + "@step-100", "--tag", "x"]] {
                let outcome = try TestSupport.run(TestSupport.resumable, arguments, deadline: 60)
                #expect(outcome.status == 65, "\(name), \(arguments[0]): \(outcome)")
                #expect(outcome.stderr.contains(name), "\(name): \(outcome.stderr)")
                #expect(victim.isIntact(), "\(name): \(arguments[0]) wrote through the link")
            }
        }
    }

    @Test("removeTree removes links inside a tree, never what they point to, and refuses a linked parent")
    func removeTreeDoesNotFollow() throws {
        let base = TestSupport.temporaryDirectory("attack-remove")
        defer { try? FileManager.default.removeItem(atPath: base) }
        let victim = try Victim(base)
        let tree = base + "/tree"
        try FileSystem.createDirectory(tree + "/a/b")
        try Self.plantLink(at: tree + "/a/b/link", to: victim.directory)
        try Self.plantLink(at: tree + "/a/file-link", to: victim.directory + "/precious.txt")
        try FileSystem.removeTree(tree)
        #expect(!FileSystem.exists(tree))
        #expect(victim.isIntact())

        try Self.plantLink(at: base + "/linked-parent", to: victim.directory)
        #expect(throws: ResumableError.self) { try FileSystem.removeTree(base + "/linked-parent/precious.txt") }
        #expect(throws: ResumableError.self) { try FileSystem.emptyDirectory(base + "/linked-parent") }
        #expect(victim.isIntact())
    }
}
