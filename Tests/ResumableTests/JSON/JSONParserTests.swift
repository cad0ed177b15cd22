import Resumable
import Testing

/// The strict JSON parser: what it accepts, exactly, and what it refuses.
@Suite("JSON parser")
struct JSONParserTests {
    func parse(_ text: String, maxDepth: Int = 64) throws -> JSONValue { try JSONParser(maxDepth: maxDepth).parse(text) }

    @Test("escapes decode to the characters they name", arguments: [
        ("\"\\\"\"", "\""), ("\"\\\\\"", "\\"), ("\"\\/\"", "/"), ("\"\\b\\f\\n\\r\\t\"", "\u{8}\u{C}\n\r\t"),
        ("\"\\u0041\\u00e9\\u4e2D\"", "Aé中"), ("\"a\\u0000b\"", "a\u{0}b"), ("\"plain é\"", "plain é"),
    ])
    func escapes(_ text: String, _ expected: String) throws {
        #expect(try parse(text) == .string(expected))
    }

    @Test("surrogate pairs join; lone surrogates are refused")
    func surrogates() throws {
        #expect(try parse("\"\\ud83d\\ude00\"") == .string("😀"))
        #expect(try parse("\"\\uD834\\uDD1E\"") == .string("𝄞"))
        for bad in ["\"\\ud83d\"", "\"\\ude00\"", "\"\\ud83dx\"", "\"\\ud83d\\u0041\"", "\"\\ud83d\\ud83d\""] {
            #expect(throws: JSONParseError.self, "\(bad)") { try parse(bad) }
        }
    }

    @Test("bad escapes and raw control characters are refused", arguments: [
        "\"\\x\"", "\"\\u12\"", "\"\\u12G4\"", "\"\\", "\"abc", "\"a\nb\"", "\"a\u{1F}b\"",
    ])
    func badStrings(_ text: String) {
        #expect(throws: JSONParseError.self) { try parse(text) }
    }

    @Test("numbers: integers stay exact, others are doubles")
    func numbers() throws {
        #expect(try parse("0") == .int(0))
        #expect(try parse("-0") == .int(0))
        #expect(try parse("9223372036854775807") == .int(Int64.max))
        #expect(try parse("-9223372036854775808") == .int(Int64.min))
        #expect(try parse("9223372036854775808") == .double(9223372036854775808))
        #expect(try parse("1.5") == .double(1.5))
        #expect(try parse("-2.5e-3") == .double(-0.0025))
        #expect(try parse("1E2") == .double(100))
        #expect(try parse("1e+2") == .double(100))
        #expect(try parse(" 12 ") == .int(12))
    }

    @Test("malformed numbers are refused", arguments: [
        "01", "-", "+1", "1.", ".5", "1e", "1e+", "0x10", "1e400", "-1e400", "NaN", "Infinity", "1_000", "- 1",
    ])
    func badNumbers(_ text: String) {
        #expect(throws: JSONParseError.self) { try parse(text) }
    }

    @Test("nesting up to the limit is accepted, deeper is refused")
    func depthLimit() throws {
        let ok = String(repeating: "[", count: 8) + String(repeating: "]", count: 8)
        #expect(throws: Never.self) { try parse(ok, maxDepth: 8) }
        let deep = String(repeating: "[", count: 9) + String(repeating: "]", count: 9)
        let error = #expect(throws: JSONParseError.self) { try parse(deep, maxDepth: 8) }
        #expect(error?.reason.contains("nested deeper") == true)
        let objects = String(repeating: "{\"a\":", count: 9) + "1" + String(repeating: "}", count: 9)
        #expect(throws: JSONParseError.self) { try parse(objects, maxDepth: 8) }
        // A hostile depth far beyond the limit is refused without exhausting the stack.
        #expect(throws: JSONParseError.self) { try parse(String(repeating: "[", count: 1_000_000)) }
    }

    @Test("duplicate keys are refused, naming the key")
    func duplicateKeys() throws {
        let error = #expect(throws: JSONParseError.self) { try parse("{\"a\":1,\"b\":2,\"a\":3}") }
        #expect(error?.reason.contains("duplicate key \"a\"") == true)
        #expect(error?.offset == 13)
        #expect(throws: JSONParseError.self) { try parse("{\"x\":{\"k\":1,\"k\":1}}") }
        // The same key in different objects is fine.
        #expect(try parse("[{\"a\":1},{\"a\":2}]") == .array([["a": 1], ["a": 2]]))
    }

    @Test("structure errors are refused", arguments: [
        "", " ", "{", "}", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "{a:1}", "[1 2]", "tru", "nul", "true false",
        "{} {}", "[]]", "'a'",
    ])
    func badStructure(_ text: String) {
        #expect(throws: JSONParseError.self) { try parse(text) }
    }

    @Test("invalid UTF-8 is refused, in keys and values, with or without escapes")
    func invalidUTF8() throws {
        for bytes: [UInt8] in [[0x22, 0xFF, 0x22], [0x22, 0xC3, 0x22], [0x22, 0x5C, 0x6E, 0xC0, 0xAF, 0x22], [0x7B, 0x22, 0xED, 0xA0, 0x80, 0x22, 0x3A, 0x31, 0x7D]] {
            #expect(throws: JSONParseError.self, "\(bytes)") { try JSONParser().parse(bytes) }
        }
    }

    @Test("what the writer writes, the parser reads back equal")
    func roundTrip() throws {
        let value: JSONValue = [
            "s": "quote \" backslash \\ newline \n tab \t nul \u{0} emoji 😀 control \u{1}",
            "n": [0, -1, 1.5, 1e-7, 123456789012345, 0.1], "b": [true, false, nil], "o": ["z": [:], "a": []],
        ]
        #expect(try JSONParser().parse(value.serialized()) == value)
        #expect(try JSONParser().parse(value.prettyPrinted()) == value)
    }
}
