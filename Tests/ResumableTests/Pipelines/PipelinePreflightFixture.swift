import Foundation
import Resumable

/// A pipeline for the preflight tests: a file with two stages and the given
/// `preflight:` entries (YAML lines, indented under `preflight:`) in a fresh
/// temporary directory, and helpers to give a stage a run with checkpoints.
struct PipelinePreflightFixture {
    let directory: String
    var file: String { directory + "/pipeline.yaml" }

    init(label: String = "pipeline-preflight", run: String = "runs/pf", checks: [String] = []) throws {
        directory = TestSupport.temporaryDirectory(label)
        var yaml = "name: pf\nrun: \(run)\n"
        if !checks.isEmpty { yaml += "preflight:\n" + checks.map { "  " + $0 + "\n" }.joined() }
        yaml += """
            stages:
              - name: operator
                command: "true"
              - name: evaluate
                needs: [operator]
                command: ["true"]

            """
        try Data(yaml.utf8).write(to: URL(fileURLWithPath: file))
    }

    func spec() throws -> PipelineSpec { try PipelineSpec.load(path: file) }

    /// `{run}` as a path usable from here.
    func runDirectory() throws -> String { try spec().runDirectory }

    /// `{run}/stages/NAME`.
    func stageDirectory(_ name: String) throws -> String { try runDirectory() + "/stages/" + name }

    /// Gives stage `name` a run with checkpoints at `steps` (`model.safetensors`
    /// with tensor `w`, and `state.json`), its run.json recording `config` as
    /// the config fingerprint the checkpoints were written with.
    @discardableResult
    func makeStageRun(_ name: String, steps: [Int64] = [100, 200], config: String = "sha256:aaaa") throws -> String {
        let directory = try stageDirectory(name)
        let store = try CheckpointStore(directory: directory, access: .write, create: true)
        defer { store.close() }
        try store.updateRun { $0.configFingerprint = config }
        for step in steps {
            try store.commit(step: step) { draft in
                try draft.writeTensors([TensorSource(name: "w", dtype: .f32, shape: [2, 3], values: CLIFixture.weights(step))])
                try draft.writeJSON(named: "state.json", ["step": .int(step)])
            }
        }
        return directory
    }

    /// The bytes of the latest checkpoint of stage `name`.
    func latestBytes(_ name: String) throws -> Int64 {
        let store = try CheckpointStore(directory: try stageDirectory(name))
        defer { store.close() }
        let step = try require_(store.committedSteps().last, "a checkpoint")
        return try store.checkpoint(step: step).bytes
    }

    func remove() { try? FileManager.default.removeItem(atPath: directory) }

    /// The pids of live processes whose command line contains `marker`
    /// (a unique `sleep` duration), to show a check left nothing behind.
    static func processes(containing marker: String) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { Int32($0) }.filter { pid in
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            let text = String(decoding: data.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)
            guard text.contains(marker) else { return false }
            // A zombie waiting to be collected is not running.
            let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
            return !stat.contains(") Z ")
        }
    }

    /// Waits up to `seconds` for no process to contain `marker`.
    static func noProcesses(containing marker: String, within seconds: Double = 5) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if processes(containing: marker).isEmpty { return true }
            usleep(50_000)
        }
        return processes(containing: marker).isEmpty
    }
}

/// `value`, or a thrown error when it is `nil` (outside a test body, where `#require` is not available).
func require_<T>(_ value: T?, _ what: String = "a value") throws -> T {
    guard let value else { throw CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: "missing \(what)"]) }
    return value
}
