import Foundation
import Resumable
import Testing

/// Issue 10, item 11: names read from a manifest (metric names, tags, keys)
/// never reach the terminal as control characters.
@Suite("Attack: terminal escapes in manifests")
struct AttackTerminalEscapeTests {
    /// A title change, a screen clear, a C1 CSI and a bell.
    static let hostile = ["\u{1B}]0;pwned\u{07}", "\u{1B}[2J", "\u{9B}31m", "\u{7F}"]

    @Test("ls, inspect, status and diff escape control characters from a hostile manifest")
    func escapes() throws {
        let run = try CLIFixture.makeRun("attack-escape")
        defer { try? FileManager.default.removeItem(atPath: FilePath.parent(of: run)) }
        let manifestPath = CLIFixture.checkpoint(run, 300) + "/manifest.json"
        var manifest = try TestSupport.json(String(contentsOfFile: manifestPath, encoding: .utf8))
        guard case .object(var o) = manifest else { Issue.record("manifest is not an object"); return }
        o["metrics"] = .object(Dictionary(uniqueKeysWithValues: Self.hostile.enumerated().map { ("m\($0.offset)" + $0.element, .double(1.5)) }))
        o["tags"] = .array(Self.hostile.map { .string("tag" + $0) })
        o["metadata"] = .object(["note" + Self.hostile[0]: .string(Self.hostile[1])])
        manifest = .object(o)
        try Data(manifest.prettyPrinted().utf8).write(to: URL(fileURLWithPath: manifestPath))
        #expect(try CheckpointStore(directory: run).checkpoint(step: 300).manifest.tags.count == Self.hostile.count)

        for arguments in [["ls", run], ["inspect", run + "@step-300"], ["status", run], ["diff", run + "@step-200", run + "@step-300"]] {
            let outcome = try TestSupport.run(TestSupport.resumable, arguments, deadline: 60)
            #expect(outcome.status == (arguments[0] == "diff" ? 1 : 0), "\(arguments[0]): \(outcome)")
            for text in [outcome.stdout, outcome.stderr] {
                let bad = text.unicodeScalars.filter { ($0.value < 0x20 && $0 != "\n" && $0 != "\t") || (0x7F...0x9F).contains($0.value) }
                #expect(bad.isEmpty, "\(arguments[0]) printed control characters \(bad.map { String($0.value, radix: 16) })")
            }
        }
        let inspect = try TestSupport.resumable("inspect", run + "@step-300")
        #expect(inspect.stdout.contains(#"\x1b]0;pwned\x07"#), "the escaped name is shown: \(inspect.stdout)")
        let json = try TestSupport.resumable("inspect", run + "@step-300", "--json")
        #expect(!json.stdout.contains("\u{1B}"), "JSON escapes control characters too")
    }
}
