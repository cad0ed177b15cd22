import Foundation
import Resumable

/// Helpers for the attack tests (issue 10): runs in temporary directories
/// removed by the caller's `defer`, manifests read and rewritten as bytes.
enum AttackFixture {
    /// `levels` nested JSON arrays: `[[…]]`.
    static func nestedArrays(_ levels: Int) -> String {
        String(repeating: "[", count: levels) + String(repeating: "]", count: levels)
    }

    /// A value built in Swift nested `levels` deep (arrays and objects alternating).
    static func nestedValue(_ levels: Int) -> JSONValue {
        var value: JSONValue = .int(1)
        for i in 0..<levels { value = i % 2 == 0 ? .array([value]) : .object(["a": value]) }
        return value
    }

    /// A CLIFixture run; the returned `cleanup` removes its temporary directory.
    static func run(_ label: String, steps: [Int64] = [100, 200, 300], monitor: Bool = true) throws
        -> (run: String, cleanup: () -> Void)
    {
        let run = try CLIFixture.makeRun(label, steps: steps, monitor: monitor)
        return (run, { remove(parentOf: run) })
    }

    /// Removes the temporary directory holding `path`.
    static func remove(parentOf path: String) {
        try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent)
    }

    static func manifestPath(_ run: String, _ step: Int64) -> String { CLIFixture.checkpoint(run, step) + "/manifest.json" }

    /// The manifest's bytes, to check an operation left it unchanged.
    static func manifestBytes(_ run: String, _ step: Int64) throws -> Data {
        try Data(contentsOf: URL(fileURLWithPath: manifestPath(run, step)))
    }

    /// Rewrites a manifest on disk with `change` applied to its JSON (no checks).
    static func rewriteManifest(_ run: String, _ step: Int64, _ change: (inout [String: JSONValue]) -> Void) throws {
        let path = manifestPath(run, step)
        guard case .object(var o) = try JSONParser(maxDepth: 64).parse(Array(try Data(contentsOf: URL(fileURLWithPath: path))))
        else { throw ResumableError(.corrupt, "not an object") }
        change(&o)
        try Data(JSONValue.object(o).prettyPrinted().utf8).write(to: URL(fileURLWithPath: path))
    }

    /// Sets the `bytes` of the manifest's files, in order (others unchanged).
    static func setFileBytes(_ run: String, _ step: Int64, _ sizes: [Int64]) throws {
        try rewriteManifest(run, step) { o in
            guard case .array(var files)? = o["files"] else { return }
            for (i, size) in sizes.enumerated() where i < files.count {
                guard case .object(var f) = files[i] else { continue }
                f["bytes"] = .int(size)
                files[i] = .object(f)
            }
            o["files"] = .array(files)
        }
    }

    /// Names left in the run's `checkpoints/.staging/` (empty when absent).
    static func staging(_ run: String) -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: run + "/checkpoints/.staging")) ?? []
    }
}
