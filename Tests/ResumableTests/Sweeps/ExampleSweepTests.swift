import Foundation
import Resumable
import Testing

/// Examples/sweep/sweep.yaml, the file the README walks through, read by the library.
@Suite("Sweeps: the example sweep file")
struct ExampleSweepTests {
    static let directory = TestSupport.packageRoot + "/Examples/sweep"
    static let representations = [
        "simple_stats", "rank_based", "stats", "spectral", "pca", "random_proj", "histogram", "quantile", "fourier",
    ]
    static let layerSets = ["all_layers", "visual_only"]

    func spec() throws -> SweepSpec { try SweepSpec.load(path: Self.directory + "/sweep.yaml") }

    @Test("it parses: 18 units (9 representations × 2 layer sets) in matrix order, the run under the repository's runs/")
    func structure() throws {
        let spec = try spec()
        #expect(spec.name == "visual-ablation")
        #expect(spec.run == "../../runs/sweep-example")
        // The library keeps the path as written (`Examples/sweep/../../runs/…`): compare it lexically normalised.
        func normalised(_ path: String) -> String { URL(fileURLWithPath: path).standardized.path }
        #expect(normalised(spec.runDirectory) == normalised(TestSupport.packageRoot + "/runs/sweep-example"))
        #expect(normalised(spec.sweepDirectory) == normalised(TestSupport.packageRoot + "/runs/sweep-example/sweeps/visual-ablation"))
        #expect(spec.command == .shell("${PYTHON:-python3} experiment.py --rep {representation} --layers {layers} --out {output}"))
        #expect(spec.matrix.map(\.name) == ["representation", "layers"])
        #expect(spec.matrix[0].values == Self.representations.map { .string($0) })
        #expect(spec.matrix[1].values == Self.layerSets.map { .string($0) })
        #expect(spec.include.isEmpty && spec.exclude.isEmpty)
        #expect(spec.workers == 2 && spec.retries == 1 && spec.maxRestarts == 0)
        #expect(spec.timeout == 600)
        #expect(spec.result == "{output}")
        #expect(spec.env == ["PYTHONPATH": "../../python"])
        #expect(spec.parameterNames == ["representation", "layers"])

        #expect(spec.units.count == 18)
        let expected = Self.representations.flatMap { r in Self.layerSets.map { "representation=\(r) layers=\($0)" } }
        #expect(spec.units.map(\.label) == expected)
        #expect(Set(spec.units.map(\.key)).count == 18, "unit keys must be unique")
        #expect(Set(spec.units.map(\.fingerprint)).count == 18)
        #expect(spec.units.allSatisfy { $0.origin == .matrix })
        // The key the README shows, computed by hand from docs/SWEEPS.md's fingerprint text.
        let spectral = try #require(spec.units.first { $0.label == "representation=spectral layers=all_layers" })
        #expect(spectral.key == "d8224c8af804a19d")
    }

    @Test("every unit runs experiment.py with its parameters into {output} = its unit directory's result.json, a JSON result")
    func units() throws {
        let spec = try spec()
        for unit in spec.units {
            let representation = try #require(unit.value(of: "representation"))
            let layers = try #require(unit.value(of: "layers"))
            guard case .string(let r) = representation, case .string(let l) = layers else {
                Issue.record("\(unit.label): parameters must be strings")
                continue
            }
            #expect(SweepUnit.isKey(unit.key) && unit.fingerprint.hasPrefix(unit.key))
            #expect(unit.directory == spec.sweepDirectory + "/units/" + unit.key)
            #expect(unit.resultPath == unit.directory + "/result.json")
            #expect(unit.resultIsJSON)
            #expect(!unit.resultPath.contains("{") && !unit.resultPath.contains("}"))
            #expect(unit.argv == ["/bin/sh", "-c", "${PYTHON:-python3} experiment.py --rep \(r) --layers \(l) --out \(unit.resultPath)"])
            #expect(unit.env == ["PYTHONPATH": "../../python"])
            #expect(unit.paramsJSON == ["representation": .string(r), "layers": .string(l)])
        }
    }

    @Test("the files the command and env name exist: experiment.py, features.py, the python package")
    func filesExist() {
        let files = FileManager.default
        for file in ["experiment.py", "features.py", "README.md", "../../python/resumable/__init__.py"] {
            #expect(files.fileExists(atPath: Self.directory + "/" + file), "\(file) missing")
        }
    }

    @Test("a fresh run runs all 18; growing the matrix by one representation adds exactly its 2 units and keeps every key")
    func planAndGrowth() throws {
        let spec = try spec()
        let plan = SweepPlan.make(spec: spec, records: [])
        #expect(plan.summary.hasPrefix("Running all 18 units."))

        let grown = try String(contentsOfFile: Self.directory + "/sweep.yaml", encoding: .utf8)
            .replacingOccurrences(of: "quantile, fourier]", with: "quantile, fourier, wavelet]")
        #expect(grown.contains("wavelet"))
        let fixture = try SweepFixture(yaml: grown)
        defer { fixture.remove() }
        let bigger = try fixture.spec()
        #expect(bigger.units.count == 20)
        let old = Set(spec.units.map(\.key))
        let added = bigger.units.filter { !old.contains($0.key) }
        #expect(added.map(\.label) == ["representation=wavelet layers=all_layers", "representation=wavelet layers=visual_only"])
        #expect(old.isSubset(of: Set(bigger.units.map(\.key))))
    }
}
