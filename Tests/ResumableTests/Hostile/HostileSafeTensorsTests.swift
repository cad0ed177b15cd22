import Foundation
import Resumable
import Testing

/// One malformed safetensors file.
struct HostileFile: Sendable, CustomTestStringConvertible {
    var name: String
    var bytes: [UInt8]
    var testDescription: String { name }

    /// A file: the 8-byte length (of `header`, unless given), the header, then `data` zero bytes and `extra`.
    init(_ name: String, header: [UInt8], length: UInt64? = nil, data: Int = 0, extra: [UInt8] = []) {
        self.name = name
        var out: [UInt8] = []
        var n = length ?? UInt64(header.count)
        for _ in 0..<8 {
            out.append(UInt8(n & 0xFF))
            n >>= 8
        }
        bytes = out + header + [UInt8](repeating: 0, count: data) + extra
    }

    init(_ name: String, _ header: String, length: UInt64? = nil, data: Int = 0, extra: [UInt8] = []) {
        self.init(name, header: Array(header.utf8), length: length, data: data, extra: extra)
    }

    init(_ name: String, raw: [UInt8]) {
        self.name = name
        bytes = raw
    }

    /// One F32 tensor `t` with the given entry fields.
    static func tensor(_ name: String, _ entry: String, data: Int) -> HostileFile {
        HostileFile(name, "{\"t\":{\(entry)}}", data: data)
    }
}

/// Malformed safetensors files: each is refused as `.corrupt` with a message
/// naming the file, by the reader and by a commit of the file; none crashes.
@Suite("Hostile input: safetensors files")
struct HostileSafeTensorsTests {
    static let ok = "\"dtype\":\"F32\",\"shape\":[2]"

    static let cases: [HostileFile] = [
        HostileFile("empty file", raw: []),
        HostileFile("7 bytes", raw: [1, 0, 0, 0, 0, 0, 0]),
        HostileFile("header length UInt64.max", "{}", length: UInt64.max),
        HostileFile("header length just over 100 MB", "{}", length: 100_000_001),
        HostileFile("header length past the end of the file", "{}", length: 4096),
        HostileFile("header length 0", "", length: 0),
        HostileFile("header length 1", "{", length: 1),
        HostileFile("header length cuts the JSON", "{\"t\":{\(ok),\"data_offsets\":[0,8]}}", length: 10, data: 8),
        HostileFile("header is a JSON array", "[]"),
        HostileFile("header is null", "null    "),
        HostileFile("header is a string", "\"{}\""),
        HostileFile("header is not JSON", "{not json}"),
        HostileFile("trailing garbage after the header JSON", "{} garbage"),
        HostileFile("byte order mark before the header", header: [0xEF, 0xBB, 0xBF] + Array("{}".utf8)),
        HostileFile("invalid UTF-8 in a tensor name", header: Array("{\"".utf8) + [0xC3, 0x28] + Array("\":{}}".utf8)),
        HostileFile("overlong UTF-8 encoding of '/'", header: Array("{\"a".utf8) + [0xC0, 0xAF] + Array("b\":{}}".utf8)),
        HostileFile("UTF-8 encoded surrogate", header: Array("{\"".utf8) + [0xED, 0xA0, 0x80] + Array("\":{}}".utf8)),
        HostileFile("unpaired surrogate escape in a name", "{\"\\ud800\":{\(ok),\"data_offsets\":[0,8]}}", data: 8),
        HostileFile("raw control character in a name", "{\"a\u{01}b\":{\(ok),\"data_offsets\":[0,8]}}", data: 8),
        HostileFile("escaped control character in a name", "{\"a\\u0007b\":{\(ok),\"data_offsets\":[0,8]}}", data: 8),
        HostileFile("NUL byte in the header", header: Array("{\"a\":".utf8) + [0] + Array("{}}".utf8)),
        HostileFile("deeply nested arrays", String(repeating: "[", count: 100_000)),
        HostileFile("deeply nested objects", String(repeating: "{\"a\":", count: 10_000) + "1" + String(repeating: "}", count: 10_000)),
        HostileFile("nesting deeper than a header needs", "{\"t\":{\"dtype\":\"F32\",\"shape\":[[[2]]],\"data_offsets\":[0,8]}}", data: 8),
        HostileFile("empty tensor name", "{\"\":{\(ok),\"data_offsets\":[0,8]}}", data: 8),
        HostileFile("duplicate tensor names", "{\"t\":{\(ok),\"data_offsets\":[0,8]},\"t\":{\(ok),\"data_offsets\":[8,16]}}", data: 16),
        HostileFile("duplicate key inside an entry", "{\"t\":{\(ok),\"dtype\":\"F64\",\"data_offsets\":[0,8]}}", data: 8),
        HostileFile("tensor entry is a number", "{\"t\":5}"),
        HostileFile("tensor entry has an unknown field", "{\"t\":{\(ok),\"data_offsets\":[0,8],\"extra\":1}}", data: 8),
        HostileFile.tensor("unknown dtype", "\"dtype\":\"F128\",\"shape\":[2],\"data_offsets\":[0,8]", data: 8),
        HostileFile.tensor("lowercase dtype", "\"dtype\":\"f32\",\"shape\":[2],\"data_offsets\":[0,8]", data: 8),
        HostileFile.tensor("dtype is a number", "\"dtype\":32,\"shape\":[2],\"data_offsets\":[0,8]", data: 8),
        HostileFile.tensor("dtype missing", "\"shape\":[2],\"data_offsets\":[0,8]", data: 8),
        HostileFile.tensor("shape missing", "\"dtype\":\"F32\",\"data_offsets\":[0,8]", data: 8),
        HostileFile.tensor("shape is a number", "\"dtype\":\"F32\",\"shape\":2,\"data_offsets\":[0,8]", data: 8),
        HostileFile.tensor("negative dimension", "\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]", data: 8),
        HostileFile.tensor("fractional dimension", "\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,10]", data: 10),
        HostileFile.tensor("dimension 1e30", "\"dtype\":\"F32\",\"shape\":[1e30],\"data_offsets\":[0,8]", data: 8),
        HostileFile.tensor("dimension beyond Int64", "\"dtype\":\"F32\",\"shape\":[99999999999999999999],\"data_offsets\":[0,8]", data: 8),
        HostileFile.tensor("shape product overflows", "\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]", data: 8),
        HostileFile.tensor("byte size overflows", "\"dtype\":\"F64\",\"shape\":[2305843009213693952],\"data_offsets\":[0,8]", data: 8),
        HostileFile.tensor("F4 with an odd element count", "\"dtype\":\"F4\",\"shape\":[3],\"data_offsets\":[0,2]", data: 2),
        HostileFile.tensor("F6 not filling whole bytes", "\"dtype\":\"F6_E2M3\",\"shape\":[3],\"data_offsets\":[0,3]", data: 3),
        HostileFile.tensor("byte count not shape times dtype", "\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]", data: 8),
        HostileFile.tensor("data_offsets missing", "\(ok)", data: 8),
        HostileFile.tensor("data_offsets with three numbers", "\(ok),\"data_offsets\":[0,4,8]", data: 8),
        HostileFile.tensor("data_offsets reversed", "\(ok),\"data_offsets\":[8,0]", data: 8),
        HostileFile.tensor("negative data_offsets", "\(ok),\"data_offsets\":[-8,0]", data: 8),
        HostileFile.tensor("data_offsets are strings", "\(ok),\"data_offsets\":[\"0\",\"8\"]", data: 8),
        HostileFile.tensor("data_offsets are fractions", "\(ok),\"data_offsets\":[0.5,8.5]", data: 8),
        HostileFile.tensor("data_offsets beyond Int64", "\(ok),\"data_offsets\":[0,99999999999999999999]", data: 8),
        HostileFile.tensor("offsets past the end of the file", "\(ok),\"data_offsets\":[0,8]", data: 4),
        HostileFile.tensor("data does not start at offset 0", "\(ok),\"data_offsets\":[8,16]", data: 16),
        HostileFile("overlapping tensors", "{\"a\":{\(ok),\"data_offsets\":[0,8]},\"b\":{\(ok),\"data_offsets\":[4,12]}}", data: 12),
        HostileFile("two tensors at the same offsets", "{\"a\":{\(ok),\"data_offsets\":[0,8]},\"b\":{\(ok),\"data_offsets\":[0,8]}}", data: 8),
        HostileFile("gap between tensors", "{\"a\":{\(ok),\"data_offsets\":[0,8]},\"b\":{\(ok),\"data_offsets\":[12,20]}}", data: 20),
        HostileFile.tensor("trailing bytes after the data", "\(ok),\"data_offsets\":[0,8]", data: 12),
        HostileFile("__metadata__ is an array", "{\"__metadata__\":[]}"),
        HostileFile("__metadata__ value is a number", "{\"__metadata__\":{\"a\":1}}"),
        HostileFile("__metadata__ nested object", "{\"__metadata__\":{\"a\":{\"b\":\"c\"}}}"),
        HostileFile("number with a leading zero", "{\"t\":{\(ok),\"data_offsets\":[0,08]}}", data: 8),
        HostileFile("number 1e400", "{\"t\":{\(ok),\"data_offsets\":[0,1e400]}}", data: 8),
        HostileFile("unterminated string", "{\"t"),
        HostileFile("invalid escape", "{\"\\x41\":{}}"),
        HostileFile("single quotes", "{'t':{}}"),
        HostileFile("trailing comma", "{\"t\":{\(ok),\"data_offsets\":[0,8]},}", data: 8),
    ]

    @Test("a malformed safetensors file is refused, naming the file", arguments: cases)
    func refused(_ file: HostileFile) throws {
        let dir = TestSupport.temporaryDirectory("hostile-st")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/model.safetensors"
        try FileSystem.writeAtomically(file.bytes, to: path)
        let error = #expect(throws: ResumableError.self) { _ = try SafeTensorsFile(path: path) }
        #expect(error?.code == .corrupt)
        #expect(error?.exitCode == 65)
        #expect(error?.path == path)
        #expect(error?.message.contains(path) == true, "\(error?.message ?? "")")

        // A program committing the file through the store is refused the same way, and nothing is committed.
        let source = dir + "/out"
        try FileSystem.createDirectory(source)
        try FileSystem.writeAtomically(file.bytes, to: source + "/model.safetensors")
        let store = try CheckpointStore(directory: dir + "/run", access: .write, create: true)
        let commitError = #expect(throws: ResumableError.self) { try store.commitDirectory(source, step: 1) }
        #expect(commitError?.code == .corrupt)
        #expect(commitError?.message.contains(source + "/model.safetensors") == true)
        #expect(try store.committedSteps().isEmpty)
        #expect(try FileSystem.contents(of: store.checkpointsDirectory + "/.staging").isEmpty)
    }

    @Test("the cases are at least 40 and distinct")
    func countCases() {
        #expect(Self.cases.count >= 40)
        #expect(Set(Self.cases.map(\.name)).count == Self.cases.count)
        #expect(Set(Self.cases.map(\.bytes)).count == Self.cases.count)
    }

    @Test("a well-formed file next to the hostile ones is read (the cases are not refused for another reason)")
    func wellFormedControl() throws {
        let dir = TestSupport.temporaryDirectory("hostile-st")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/model.safetensors"
        let good = HostileFile("good", "{\"a\":{\(Self.ok),\"data_offsets\":[0,8]},\"b\":{\(Self.ok),\"data_offsets\":[8,16]}}", data: 16)
        try FileSystem.writeAtomically(good.bytes, to: path)
        let file = try SafeTensorsFile(path: path)
        #expect(file.names == ["a", "b"])
        #expect(try file.array("b", as: Float.self) == [0, 0])
    }
}
