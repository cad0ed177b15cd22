import Foundation
import Resumable
import Testing

/// Issue 10, item 4: no writer produces a manifest or run.json the reader
/// refuses; limits are checked before anything changes (exit 64).
@Suite("Attack: manifest limits")
struct AttackManifestLimitsTests {
    @Test("commit --metadata nested past the reader's 64 levels exits 64 and commits nothing")
    func commitMetadataDepth() throws {
        let (run, cleanup) = try AttackFixture.run("attack-commit-depth", steps: [100])
        defer { cleanup() }
        let source = try CLIFixture.sourceDirectory("attack-commit-depth-src")
        defer { try? FileManager.default.removeItem(atPath: source) }
        // metadata sits at depth 2 inside the manifest: 62 levels of value fit, 63 do not.
        let fits = try TestSupport.resumable("commit", run, "--step", "150", "--metadata", "deep=" + AttackFixture.nestedArrays(62), source)
        #expect(fits.status == 0, "\(fits)")
        let verified = try TestSupport.resumable("verify", run + "@step-150")
        #expect(verified.status == 0, "62 levels of metadata make a readable checkpoint: \(verified)")
        for (n, levels) in [63, 64, 65, 70, 20_000, 60_000].enumerated() {
            let step = String(200 + n)
            let outcome = try TestSupport.resumable(
                "commit", run, "--step", step, "--metadata", "deep=" + AttackFixture.nestedArrays(levels), source)
            #expect(outcome.status == 64, "\(levels) levels: \(outcome)")
            #expect(outcome.stderr.contains("deep"), "\(levels) levels: the message names the key: \(outcome.stderr)")
            #expect(!FileManager.default.fileExists(atPath: CLIFixture.checkpoint(run, Int64(step)!)), "\(levels) levels")
            #expect(AttackFixture.staging(run).isEmpty)
        }
        // --move: the files stay where they were.
        let moved = try TestSupport.resumable(
            "commit", run, "--step", "400", "--move", "--metadata", "deep=" + AttackFixture.nestedArrays(63), source)
        #expect(moved.status == 64, "\(moved)")
        #expect(FileManager.default.fileExists(atPath: source + "/model.safetensors"))
        let listed = try TestSupport.resumable("ls", run)
        #expect(!listed.stdout.contains("corrupt"), "\(listed)")
    }

    @Test("edit --set with a path or value deeper than a manifest holds exits 64 and changes nothing")
    func editDepth() throws {
        let (run, cleanup) = try AttackFixture.run("attack-edit-depth", steps: [100])
        defer { cleanup() }
        // 64 parts: the top object, metadata and 62 objects, a string inside: depth 64.
        let fits = "metadata" + String(repeating: ".a", count: 63)
        let ok = try TestSupport.resumable("edit", run + "@step-100", "--set", fits + "=x")
        #expect(ok.status == 0, "\(ok)")
        let before = try AttackFixture.manifestBytes(run, 100)
        var attempts = [65, 70, 20_000, 60_000].map { ["--set", "metadata" + String(repeating: ".a", count: $0 - 1) + "=x"] }
        attempts.append(["--set", "metadata.x=" + AttackFixture.nestedArrays(63)])
        attempts.append(["--set", "metadata.x=" + AttackFixture.nestedArrays(70)])
        attempts.append(["--set", "mine=" + AttackFixture.nestedArrays(64)])
        for arguments in attempts {
            let outcome = try TestSupport.run(TestSupport.resumable, ["edit", run + "@step-100"] + arguments)
            let shown = String(arguments[1].prefix(40))
            #expect(outcome.status == 64, "\(shown): \(outcome)")
            #expect(outcome.stderr.contains("64"), "\(shown): the message names the limit: \(outcome.stderr)")
            #expect(try AttackFixture.manifestBytes(run, 100) == before, "\(shown): the manifest is unchanged")
        }
        let verify = try TestSupport.resumable("verify", run + "@step-100")
        #expect(verify.status == 0, "\(verify)")
        let again = try TestSupport.resumable("edit", run + "@step-100", "--tag", "still-editable")
        #expect(again.status == 0, "\(again)")
    }

    @Test("the library's commit refuses deep metadata or extra keys (.usage) and leaves nothing behind")
    func libraryCommitDepth() throws {
        let directory = TestSupport.temporaryDirectory("attack-lib-depth") + "/run"
        defer { AttackFixture.remove(parentOf: directory) }
        let store = try CheckpointStore(directory: directory, access: .write, create: true)
        defer { store.close() }
        let cases: [(String, (CheckpointDraft) -> Void)] = [
            ("metadata 63", { $0.metadata["deep"] = AttackFixture.nestedValue(63) }),
            ("metadata 2000", { $0.metadata["deep"] = AttackFixture.nestedValue(2000) }),
            ("extra 64", { $0.extra["deep"] = AttackFixture.nestedValue(64) }),
        ]
        for (n, (label, fill)) in cases.enumerated() {
            let error = #expect(throws: ResumableError.self, "\(label)") {
                try store.commit(step: Int64(n)) { draft in
                    try draft.writeFile(named: "a.bin", bytes: [1, 2, 3])
                    fill(draft)
                }
            }
            #expect(error?.code == .usage, "\(label): \(String(describing: error))")
            #expect(error?.message.contains("deep") == true, "\(label): \(String(describing: error))")
            #expect(!FileManager.default.fileExists(atPath: store.directory(of: Int64(n))), "\(label)")
            #expect(AttackFixture.staging(store.directory).isEmpty, "\(label)")
        }
        #expect(try store.scan().damaged.isEmpty)
        // At the limit it commits and reads back.
        try store.commit(step: 10) { draft in
            try draft.writeFile(named: "a.bin", bytes: [1])
            draft.metadata["deep"] = AttackFixture.nestedValue(62)
            draft.extra["top"] = AttackFixture.nestedValue(63)
        }
        #expect(try store.checkpoint(step: 10).manifest.metadata["deep"] == AttackFixture.nestedValue(62))
    }

    @Test("a manifest over 64 MiB is refused before it is written")
    func manifestSize() throws {
        let directory = TestSupport.temporaryDirectory("attack-size") + "/run"
        defer { AttackFixture.remove(parentOf: directory) }
        let store = try CheckpointStore(directory: directory, access: .write, create: true)
        defer { store.close() }
        try store.commit(step: 1) { try $0.writeFile(named: "a.bin", bytes: [1]) }
        let before = try Data(contentsOf: URL(fileURLWithPath: store.directory(of: 1) + "/manifest.json"))
        let big = JSONValue.string(String(repeating: "x", count: (64 << 20) + 1))
        let editError = #expect(throws: ResumableError.self) { try store.edit(step: 1, [.set(path: "metadata.big", value: big)]) }
        #expect(editError?.code == .usage && editError?.message.contains("MiB") == true, "\(String(describing: editError))")
        #expect(try Data(contentsOf: URL(fileURLWithPath: store.directory(of: 1) + "/manifest.json")) == before)
        let commitError = #expect(throws: ResumableError.self) {
            try store.commit(step: 2) { draft in
                try draft.writeFile(named: "a.bin", bytes: [1])
                draft.metadata["big"] = big
            }
        }
        #expect(commitError?.code == .usage, "\(String(describing: commitError))")
        #expect(!FileManager.default.fileExists(atPath: store.directory(of: 2)))
        #expect(AttackFixture.staging(directory).isEmpty)
    }

    @Test("run.json: a config nested past the reader's limit is refused and run.json is unchanged")
    func runInfoDepth() throws {
        let directory = TestSupport.temporaryDirectory("attack-runjson") + "/run"
        defer { AttackFixture.remove(parentOf: directory) }
        let store = try CheckpointStore(directory: directory, access: .write, create: true)
        let before = try Data(contentsOf: URL(fileURLWithPath: directory + "/run.json"))
        let error = #expect(throws: ResumableError.self) { try store.updateRun { $0.config["deep"] = AttackFixture.nestedValue(63) } }
        #expect(error?.code == .usage && error?.message.contains("config.deep") == true, "\(String(describing: error))")
        #expect(try Data(contentsOf: URL(fileURLWithPath: directory + "/run.json")) == before)
        try store.updateRun { $0.config["deep"] = AttackFixture.nestedValue(62) }
        store.close()
        let reopened = try CheckpointStore(directory: directory, access: .read)
        #expect(reopened.run.config["deep"] == AttackFixture.nestedValue(62))
    }

    @Test("the JSON writer needs no recursion and its indented output grows linearly with depth")
    func writerDepth() throws {
        // 2,000 levels: the old writer indented each line by its level, 8 MB of spaces.
        let deep = AttackFixture.nestedValue(2000)
        #expect(deep.nestingDepth == 2000)
        let pretty = deep.prettyPrinted()
        #expect(pretty.utf8.count < 2000 * 2 * (2 * JSONValue.maxIndentLevels + 12), "\(pretty.utf8.count) bytes")
        #expect(deep.serialized().utf8.count < 2000 * 8)
        // Output within the limit reads back equal.
        let fits = AttackFixture.nestedValue(64)
        #expect(try JSONParser(maxDepth: 64).parse(fits.prettyPrinted()) == fits)
    }
}
