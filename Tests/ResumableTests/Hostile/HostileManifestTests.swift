import Foundation
import Resumable
import Testing

/// One malformed `manifest.json`.
struct HostileManifest: Sendable, CustomTestStringConvertible {
    var name: String
    var bytes: [UInt8]
    /// The error code expected (`.corrupt`, or `.unsupportedVersion`).
    var code: ResumableError.Code = .corrupt
    var testDescription: String { name }

    /// A valid manifest of step 2 changed by `change`.
    init(_ name: String, code: ResumableError.Code = .corrupt, _ change: (inout [String: JSONValue]) -> Void) {
        self.name = name
        var o = HostileManifest.valid
        change(&o)
        bytes = Array(JSONValue.object(o).prettyPrinted().utf8)
        self.code = code
    }

    init(_ name: String, text: String) {
        self.name = name
        bytes = Array(text.utf8)
    }

    init(_ name: String, raw: [UInt8]) {
        self.name = name
        bytes = raw
    }

    /// A valid manifest of step 2 with one file, as a JSON object.
    static let valid: [String: JSONValue] = {
        let m = Manifest(
            step: 2, epoch: 0, runID: "r", configFingerprint: "",
            files: [FileRecord(name: "state.json", bytes: 2, sha256: String(repeating: "a", count: 64))])
        return m.json.objectValue ?? [:]
    }()

    /// Sets a field of the first file record.
    static func file(_ key: String, _ value: JSONValue?) -> (inout [String: JSONValue]) -> Void {
        { o in
            guard case .array(var files)? = o["files"], case .object(var f) = files[0] else { return }
            f[key] = value
            files[0] = .object(f)
            o["files"] = .array(files)
        }
    }
}

/// Malformed manifests: each is refused with a clear error naming the file
/// (`.corrupt`, or `.unsupportedVersion` for a version this release does not
/// read); a run holding one lists it as damaged, and `latest` falls back past it.
@Suite("Hostile input: manifests")
struct HostileManifestTests {
    static let cases: [HostileManifest] = [
        HostileManifest("empty file", text: ""),
        HostileManifest("not JSON", text: "manifest"),
        HostileManifest("truncated JSON", text: "{\"format\": \"resumable.checkpoint\", \"version\": 1,"),
        HostileManifest("a JSON array", text: "[]"),
        HostileManifest("a JSON string", text: "\"resumable.checkpoint\""),
        HostileManifest("invalid UTF-8", raw: Array("{\"format\": \"".utf8) + [0xFF, 0xFE] + Array("\"}".utf8)),
        HostileManifest("trailing garbage", raw: Array(JSONValue.object(HostileManifest.valid).serialized().utf8) + Array("}".utf8)),
        HostileManifest("deeply nested metadata", text: "{\"metadata\":" + String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000) + "}"),
        HostileManifest("duplicate key step", text: "{\"step\": 2, \"step\": 3}"),
        HostileManifest("number 1e400", text: "{\"step\": 1e400}"),
        HostileManifest("wrong format") { $0["format"] = "safetensors" },
        HostileManifest("format missing") { $0["format"] = nil },
        HostileManifest("version 2", code: .unsupportedVersion) { $0["version"] = 2 },
        HostileManifest("version 0", code: .unsupportedVersion) { $0["version"] = 0 },
        HostileManifest("version missing") { $0["version"] = nil },
        HostileManifest("version is a string") { $0["version"] = "1" },
        HostileManifest("step missing") { $0["step"] = nil },
        HostileManifest("step negative") { $0["step"] = -2 },
        HostileManifest("step is a string") { $0["step"] = "2" },
        HostileManifest("step 1e300") { $0["step"] = .double(1e300) },
        HostileManifest("step is fractional") { $0["step"] = 2.5 },
        HostileManifest("step differs from the directory") { $0["step"] = 3 },
        HostileManifest("epoch is fractional") { $0["epoch"] = 1.5 },
        HostileManifest("created_at is a number") { $0["created_at"] = 5 },
        HostileManifest("run_id missing") { $0["run_id"] = nil },
        HostileManifest("config_fingerprint is null") { $0["config_fingerprint"] = .null },
        HostileManifest("metrics is a list") { $0["metrics"] = [1] },
        HostileManifest("a metric is a string") { $0["metrics"] = ["loss": "low"] },
        HostileManifest("a metric is an object") { $0["metrics"] = ["loss": ["v": 1]] },
        HostileManifest("tags is a string") { $0["tags"] = "pinned" },
        HostileManifest("a tag is a number") { $0["tags"] = [1] },
        HostileManifest("metadata is a list") { $0["metadata"] = [] },
        HostileManifest("files missing") { $0["files"] = nil },
        HostileManifest("files is an object") { $0["files"] = [:] },
        HostileManifest("a file entry is a string") { $0["files"] = ["state.json"] },
        HostileManifest("a file name missing", HostileManifest.file("name", nil)),
        HostileManifest("a file name is a number", HostileManifest.file("name", 1)),
        HostileManifest("a file name with /", HostileManifest.file("name", "sub/state.json")),
        HostileManifest("a file name ..", HostileManifest.file("name", "..")),
        HostileManifest("a file name .", HostileManifest.file("name", ".")),
        HostileManifest("a file name ../ escaping", HostileManifest.file("name", "../../run.json")),
        HostileManifest("an absolute file name", HostileManifest.file("name", "/etc/passwd")),
        HostileManifest("an empty file name", HostileManifest.file("name", "")),
        HostileManifest("a file name with a backslash", HostileManifest.file("name", "..\\state.json")),
        HostileManifest("a file name with a newline", HostileManifest.file("name", "state\n.json")),
        HostileManifest("a file name with NUL", HostileManifest.file("name", "state\u{0}.json")),
        HostileManifest("a file named manifest.json", HostileManifest.file("name", "manifest.json")),
        HostileManifest("a file name of 300 bytes", HostileManifest.file("name", .string(String(repeating: "x", count: 300)))),
        HostileManifest("file bytes negative", HostileManifest.file("bytes", -1)),
        HostileManifest("file bytes missing", HostileManifest.file("bytes", nil)),
        HostileManifest("file bytes is a string", HostileManifest.file("bytes", "2")),
        HostileManifest("file bytes 1e300", HostileManifest.file("bytes", .double(1e300))),
        HostileManifest("sha256 too short", HostileManifest.file("sha256", "abc")),
        HostileManifest("sha256 in upper case", HostileManifest.file("sha256", .string(String(repeating: "A", count: 64)))),
        HostileManifest("sha256 not hex", HostileManifest.file("sha256", .string(String(repeating: "g", count: 64)))),
        HostileManifest("sha256 missing", HostileManifest.file("sha256", nil)),
        HostileManifest("tensor_crc32c is a list", HostileManifest.file("tensor_crc32c", [])),
        HostileManifest("tensor_crc32c value is a number", HostileManifest.file("tensor_crc32c", ["w": 1])),
        HostileManifest("the same file listed twice") { o in
            if case .array(let files)? = o["files"] { o["files"] = .array(files + files) }
        },
    ]

    @Test("a malformed manifest is refused, naming the file", arguments: cases)
    func refused(_ manifest: HostileManifest) throws {
        let run = TestSupport.temporaryDirectory("hostile-manifest") + "/run"
        defer { try? FileManager.default.removeItem(atPath: FilePath.parent(of: run)) }
        let store = try CheckpointStore(directory: run, access: .write, create: true)
        try store.commit(step: 1) { try $0.writeState(["ok": 1]) }
        let dir = store.directory(of: 2)
        try FileSystem.createDirectory(dir)
        try FileSystem.writeAtomically(Array("{}".utf8), to: dir + "/state.json")
        let path = dir + "/manifest.json"
        try FileSystem.writeAtomically(manifest.bytes, to: path)

        let error = #expect(throws: ResumableError.self) { _ = try store.checkpoint(step: 2) }
        #expect(error?.code == manifest.code, "\(error?.message ?? "")")
        #expect(error?.exitCode == 65)
        #expect(error?.path == path)
        #expect(error?.message.contains(path) == true, "\(error?.message ?? "")")

        // The run lists it as damaged and falls back past it.
        let scan = try store.scan()
        #expect(scan.checkpoints.map(\.step) == [1])
        #expect(scan.damaged.map(\.step) == [2])
        let resolution = try #require(try store.latest(verify: true))
        #expect(resolution.checkpoint.step == 1)
        #expect(resolution.skipped.map(\.step) == [2])
        #expect(resolution.skipped.first?.reason.contains(path) == true)
        // Nothing outside the run was touched or read as part of the checkpoint: retention still works.
        #expect(try store.prune(RetentionPolicy(keepLast: 1)).deleted.isEmpty)
    }

    @Test("the cases are at least 40 and distinct")
    func countCases() {
        #expect(Self.cases.count >= 40)
        #expect(Set(Self.cases.map(\.name)).count == Self.cases.count)
        #expect(Set(Self.cases.map(\.bytes)).count == Self.cases.count)
    }

    @Test("the valid manifest the cases start from is accepted")
    func validControl() throws {
        let m = try Manifest.decode(Array(JSONValue.object(HostileManifest.valid).prettyPrinted().utf8), path: "manifest.json")
        #expect(m.step == 2)
        #expect(m.files.map(\.name) == ["state.json"])
    }
}
