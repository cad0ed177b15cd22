import Foundation
import Resumable
import Testing

/// A sweep file in a temporary directory, and helpers to parse sweep text and
/// catch its errors.
struct SweepFixture {
    let directory: String
    var file: String { directory + "/sweep.yaml" }

    static let yaml = """
        name: ablation
        run: runs/ablation
        command: python3 experiment.py --rep {representation} --layers {layers} --out {output}
        matrix:
          representation: [simple_stats, rank_based, spectral]
          layers: [all_layers, visual_only]
        exclude:
          - {representation: spectral, layers: visual_only}
        include:
          - {representation: raw, layers: all_layers, seed: 7}
        result: "{output}"
        workers: 2
        retries: 1
        timeout: 1h30m
        env: {OMP_NUM_THREADS: "1", TAG: "{representation}-{key}"}
        """

    init(yaml: String = SweepFixture.yaml) throws {
        directory = TestSupport.temporaryDirectory("sweep")
        try write("sweep.yaml", yaml)
    }

    func write(_ relative: String, _ text: String) throws {
        let path = directory + "/" + relative
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    }

    func spec(allowLarge: Bool = false) throws -> SweepSpec { try SweepSpec.load(path: file, allowLarge: allowLarge) }

    var store: SweepStore { get throws { SweepStore(spec: try spec()) } }

    func remove() { try? FileManager.default.removeItem(atPath: directory) }

    /// Parses `yaml` as `sweep.yaml` in the directory `base`.
    static func parse(_ yaml: String, base: String = "/data/sweeps", allowLarge: Bool = false) throws -> SweepSpec {
        try SweepSpec.parse(yaml, file: "sweep.yaml", baseDirectory: base, allowLarge: allowLarge)
    }

    /// The error parsing `bytes` throws, or `nil` (recorded as an issue) when it parses.
    static func error(_ bytes: [UInt8], allowLarge: Bool = false) -> ResumableError? {
        do {
            _ = try SweepSpec.parse(bytes, file: "sweep.yaml", baseDirectory: "/data/sweeps", allowLarge: allowLarge)
            return nil
        } catch let error as ResumableError {
            return error
        } catch {
            Issue.record("not a ResumableError: \(error)")
            return nil
        }
    }

    /// The units' keys by their `label`.
    static func keys(_ spec: SweepSpec) -> [String: String] {
        Dictionary(spec.units.map { (Self.canonicalLabel($0), $0.key) }, uniquingKeysWith: { a, _ in a })
    }

    /// A unit's parameters sorted by name, as text: the same whatever their order in the file.
    static func canonicalLabel(_ unit: SweepUnit) -> String {
        unit.params.sorted { $0.name < $1.name }.map { "\($0.name)=\($0.value.canonicalJSON)" }.joined(separator: " ")
    }

    /// The SHA-256 of `text` computed by `sha256sum`, independently of the library.
    static func sha256sum(_ text: String) throws -> String {
        let outcome = try TestSupport.run("/usr/bin/sha256sum", [], stdin: text)
        return String(outcome.stdout.prefix(64))
    }

    /// The error `body` throws, as a `ResumableError`.
    static func catching(_ body: () throws -> Void) -> ResumableError? {
        do {
            try body()
            return nil
        } catch {
            return error as? ResumableError
        }
    }
}
