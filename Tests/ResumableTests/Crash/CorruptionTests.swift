#if canImport(Glibc)
import Glibc
#endif
import CrashWorkload
import Foundation
import Resumable
import Testing

/// Damage done to a committed checkpoint behind the store's back.
struct Corruption: Sendable, CustomTestStringConvertible {
    var name: String
    /// The file `verify` must name (nil: the manifest itself is damaged).
    var file: String?
    /// The tensors `verify` must name.
    var tensors: [String] = []
    /// Words the problem must contain.
    var reason: String = "SHA-256"
    var damage: @Sendable (_ checkpoint: Checkpoint) throws -> Void
    var testDescription: String { name }

    static func flip(_ path: String, at offset: (_ bytes: [UInt8]) -> Int) throws {
        var bytes = try FileSystem.readFile(path)
        bytes[offset(bytes)] ^= 0x01
        try overwrite(path, bytes)
    }

    /// Rewrites a file in place (same inode, as bit rot would).
    static func overwrite(_ path: String, _ bytes: [UInt8]) throws {
        let fd = open(path, O_WRONLY | O_TRUNC)
        guard fd >= 0 else { throw ResumableError(.io, "cannot open \(path)") }
        defer { close(fd) }
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    }

    /// The offset of a tensor's first byte in a safetensors file.
    static func dataOffset(_ path: String, tensor: String) throws -> Int {
        let file = try SafeTensorsFile(path: path)
        return file.header.dataStart + (file.info(tensor)?.dataOffsets.lowerBound ?? 0) + 3
    }

    static let cases: [Corruption] = [
        Corruption(name: "a flipped byte in tensor data", file: "model.safetensors", tensors: ["weights"], reason: "SHA-256") { c in
            let offset = try dataOffset(c.path(of: "model.safetensors"), tensor: "weights")
            try flip(c.path(of: "model.safetensors")) { _ in offset }
        },
        Corruption(name: "a flipped byte in the last tensor of a file", file: "model.safetensors", tensors: ["mask"]) { c in
            try flip(c.path(of: "model.safetensors")) { $0.count - 1 }
        },
        Corruption(name: "a flipped byte in an optimizer tensor", file: "optimizer.safetensors", tensors: ["moments"]) { c in
            let offset = try dataOffset(c.path(of: "optimizer.safetensors"), tensor: "moments")
            try flip(c.path(of: "optimizer.safetensors")) { _ in offset }
        },
        Corruption(name: "a flipped byte in the safetensors header", file: "model.safetensors", tensors: ["(header)"]) { c in
            try flip(c.path(of: "model.safetensors")) { bytes in
                // The "F32" of the weights' dtype becomes "F22".
                let header = String(decoding: bytes.prefix(4096), as: UTF8.self).utf8
                return Array(header).firstRange(of: Array("\"F32\"".utf8))!.lowerBound + 2
            }
        },
        Corruption(name: "a flipped byte in the header length", file: "model.safetensors", tensors: ["(header)"]) { c in
            try flip(c.path(of: "model.safetensors")) { _ in 0 }
        },
        Corruption(name: "a flipped byte in state.json", file: "state.json", reason: "SHA-256") { c in
            try flip(c.path(of: "state.json")) { $0.count / 2 }
        },
        Corruption(name: "a truncated tensor file", file: "model.safetensors", reason: "truncated") { c in
            let bytes = try FileSystem.readFile(c.path(of: "model.safetensors"))
            try overwrite(c.path(of: "model.safetensors"), Array(bytes.dropLast(10)))
        },
        Corruption(name: "a file truncated to nothing", file: "state.json", reason: "truncated") { c in
            try overwrite(c.path(of: "state.json"), [])
        },
        Corruption(name: "bytes appended to a file", file: "optimizer.safetensors", reason: "bytes") { c in
            let bytes = try FileSystem.readFile(c.path(of: "optimizer.safetensors"))
            try overwrite(c.path(of: "optimizer.safetensors"), bytes + [0])
        },
        Corruption(name: "a deleted file", file: "state.json", reason: "missing") { c in
            try FileSystem.removeTree(c.path(of: "state.json"))
        },
        Corruption(name: "a file replaced by a directory", file: "model.safetensors", reason: "where the run keeps a regular file") { c in
            try FileSystem.removeTree(c.path(of: "model.safetensors"))
            try FileSystem.createDirectory(c.path(of: "model.safetensors"))
        },
        Corruption(name: "a file replaced by a FIFO", file: "state.json", reason: "where the run keeps a regular file") { c in
            try FileSystem.removeTree(c.path(of: "state.json"))
            _ = mkfifo(c.path(of: "state.json"), 0o644)
        },
        Corruption(name: "a garbage manifest", file: nil, reason: "not valid JSON") { c in
            try overwrite(c.path(of: "manifest.json"), Array("\u{0}garbage".utf8))
        },
        Corruption(name: "a truncated manifest", file: nil, reason: "not valid JSON") { c in
            let bytes = try FileSystem.readFile(c.path(of: "manifest.json"))
            try overwrite(c.path(of: "manifest.json"), Array(bytes.prefix(bytes.count / 2)))
        },
        Corruption(name: "a deleted manifest", file: nil, reason: "no manifest.json") { c in
            try FileSystem.removeTree(c.path(of: "manifest.json"))
        },
        Corruption(name: "a manifest replaced by a FIFO", file: nil, reason: "where the run keeps a regular file") { c in
            try FileSystem.removeTree(c.path(of: "manifest.json"))
            _ = mkfifo(c.path(of: "manifest.json"), 0o644)
        },
    ]

    /// A run with steps 1…4 of `CrashWorkload`.
    static func makeRun() throws -> CheckpointStore {
        let run = TestSupport.temporaryDirectory("corrupt") + "/run"
        let store = try CheckpointStore(directory: run, access: .write, create: true, logger: CrashInvariants.quietLogger)
        for step in Int64(1)...4 { try store.commit(step: step) { try CrashWorkload.fill($0) } }
        return store
    }
}

/// Damage to a committed checkpoint is found by `verify`, which names the
/// file and the tensor, and `latest(verify: true)` falls back to the newest
/// good checkpoint and reports what it skipped.
@Suite("Corruption: verify finds it, latest falls back")
struct CorruptionTests {
    @Test("damage is reported naming the file and tensor; latest falls back", arguments: Corruption.cases)
    func detected(_ corruption: Corruption) throws {
        let store = try Corruption.makeRun()
        defer { try? FileManager.default.removeItem(atPath: FilePath.parent(of: store.directory)) }
        let latest = try store.checkpoint(step: 4)
        try corruption.damage(latest)

        if let file = corruption.file {
            let report = try store.verify(latest)
            #expect(!report.isIntact)
            #expect(report.problems.map(\.file) == [file], "\(report.summary)")
            #expect(report.problems.first?.tensors == corruption.tensors, "\(report.summary)")
            #expect(report.summary.contains(file) && report.summary.contains(corruption.reason), "\(report.summary)")
            for tensor in corruption.tensors { #expect(report.summary.contains(tensor)) }
        } else {
            let error = #expect(throws: ResumableError.self) { _ = try store.checkpoint(step: 4) }
            #expect(error?.code == .corrupt)
            #expect(error?.path == latest.path(of: "manifest.json"))
            #expect(error?.message.contains(latest.directory) == true, "\(error?.message ?? "")")
            #expect(error?.message.contains(corruption.reason) == true, "\(error?.message ?? "")")
            #expect(try store.scan().damaged.map(\.step) == [4])
        }

        let resolution = try #require(try store.latest(verify: true))
        #expect(resolution.checkpoint.step == 3)
        #expect(resolution.skipped.map(\.step) == [4])
        let reason = resolution.skipped.first?.reason ?? ""
        #expect(reason.contains(corruption.file ?? "manifest.json"), "\(reason)")
        #expect(CrashWorkload.problems(in: resolution.checkpoint).isEmpty)
        // Without verification, a damaged manifest is still passed over; damaged data is not looked at.
        #expect(try store.latest(verify: false)?.checkpoint.step == (corruption.file == nil ? 3 : 4))
    }

    @Test("resumable verify exits 65 naming the file and tensor, for every kind of damage", arguments: Corruption.cases)
    func verifyCommand(_ corruption: Corruption) throws {
        let store = try Corruption.makeRun()
        defer { try? FileManager.default.removeItem(atPath: FilePath.parent(of: store.directory)) }
        try corruption.damage(try store.checkpoint(step: 4))
        store.close()
        let outcome = try TestSupport.resumable("verify", store.directory, "--json")
        #expect(outcome.status == 65, "\(outcome)")
        let json = try TestSupport.json(outcome.stdout)
        #expect(json["intact"] == false)
        let problems = json["checkpoints"]?.arrayValue?.first?["problems"]?.arrayValue ?? []
        let text = outcome.stdout + outcome.stderr
        #expect(text.contains(corruption.file ?? "manifest.json"), "\(outcome)")
        if let file = corruption.file {
            #expect(problems.first?["file"]?.stringValue == file, "\(outcome)")
            #expect(problems.first?["tensors"] == .array(corruption.tensors.map { .string($0) }), "\(outcome)")
        }
        // The earlier checkpoint still verifies.
        #expect(try TestSupport.resumable("verify", store.directory + "@step-3").status == 0)
    }

    @Test("two damaged checkpoints in a row: latest falls back past both, newest first")
    func fallsBackPastSeveral() throws {
        let store = try Corruption.makeRun()
        defer { try? FileManager.default.removeItem(atPath: FilePath.parent(of: store.directory)) }
        try Corruption.cases[0].damage(try store.checkpoint(step: 4))
        try Corruption.cases[5].damage(try store.checkpoint(step: 3))
        let resolution = try #require(try store.latest(verify: true))
        #expect(resolution.checkpoint.step == 2)
        #expect(resolution.skipped.map(\.step) == [4, 3])
        #expect(resolution.skipped[0].reason.contains("weights"))
        #expect(resolution.skipped[1].reason.contains("state.json"))
    }

    @Test("every damaged checkpoint: latest finds nothing and says so")
    func nothingGood() throws {
        let store = try Corruption.makeRun()
        defer { try? FileManager.default.removeItem(atPath: FilePath.parent(of: store.directory)) }
        for step in Int64(1)...4 { try Corruption.cases[5].damage(try store.checkpoint(step: step)) }
        #expect(try store.latest(verify: true) == nil)
        let error = #expect(throws: ResumableError.self) { _ = try store.resolve(.latest, verify: true) }
        #expect(error?.code == .notFound)
    }

    @Test("a flipped bit anywhere in a tensor file is found", arguments: 0..<24)
    func anyByte(_ seed: Int) throws {
        let store = try Corruption.makeRun()
        defer { try? FileManager.default.removeItem(atPath: FilePath.parent(of: store.directory)) }
        let latest = try store.checkpoint(step: 4)
        let path = latest.path(of: "optimizer.safetensors")
        var random = SplitMix64(seed: UInt64(seed))
        var offset = 0
        try Corruption.flip(path) { bytes in
            offset = Int(random.next() % UInt64(bytes.count))
            return offset
        }
        let report = try store.verify(latest)
        #expect(report.problems.map(\.file) == ["optimizer.safetensors"], "byte \(offset)")
        #expect(try store.latest(verify: true)?.checkpoint.step == 3)
    }
}
