import DurableFiles
import Pipelines

/// Makes the units of a sweep: each combination's fingerprint, key and
/// substituted command, env and result path; a combination whose
/// fingerprint is already there is kept once.
struct UnitExpander {
    let spec: SweepSpec
    let templates: SweepReader.Templates
    /// The absolute directory relative `result` paths are taken from.
    let base: String
    private(set) var units: [SweepUnit] = []
    /// The fingerprint of each key made so far.
    private var fingerprints: [String: String] = [:]

    init(spec: SweepSpec, templates: SweepReader.Templates) {
        self.spec = spec
        self.templates = templates
        base = FilePath.absolute(spec.baseDirectory.isEmpty ? "." : spec.baseDirectory)
    }

    /// - Throws: `.corrupt` when two different units share a key (64 bits of
    ///   their fingerprints: not expected in the life of the universe, but
    ///   never written over each other if it happens).
    mutating func add(_ params: [SweepParameter], origin: SweepUnit.Origin) throws {
        let unit = Self.unit(params, origin: origin, spec: spec, templates: templates, base: base)
        if let seen = fingerprints[unit.key] {
            guard seen == unit.fingerprint else {
                throw ResumableError(
                    .corrupt, "\(spec.file): two units share the key \(unit.key) (fingerprints \(seen) and \(unit.fingerprint)); add a parameter to tell them apart.",
                    path: spec.file)
            }
            return
        }
        fingerprints[unit.key] = unit.fingerprint
        units.append(unit)
    }

    static func unit(_ params: [SweepParameter], origin: SweepUnit.Origin, spec: SweepSpec, templates: SweepReader.Templates, base: String) -> SweepUnit {
        var typed: [String: SweepValue] = [:]
        for p in params { typed[p.name] = p.value }
        let envHash = PipelineHash.environment(templates.env.mapValues { $0.fingerprintText(typed) })
        let fingerprint = PipelineHash.sha256(SweepUnit.fingerprintText(command: spec.command, params: params, envHash: envHash))
        let key = String(fingerprint.prefix(SweepUnit.keyLength))
        let directory = spec.sweepDirectory + "/units/" + key

        var values: [String: String] = [:]
        for p in params { values[p.name] = p.value.text }
        values["output"] = directory + "/" + SweepSpec.defaultResultFileName
        values["unit_dir"] = directory
        values["key"] = key
        values["run"] = spec.runDirectory
        values["name"] = spec.name

        let command: StageCommand =
            templates.isShell
            ? .shell(templates.command[0].render(values, ShellQuote.quote))
            : .arguments(templates.command.map { $0.render(values) })
        var result = templates.result.render(values)
        if !result.hasPrefix("/") { result = base + "/" + result }
        return SweepUnit(
            params: params, fingerprint: fingerprint, command: command, env: templates.env.mapValues { $0.render(values) },
            resultPath: result, directory: directory, origin: origin)
    }
}
