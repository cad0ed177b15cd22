import DurableFiles
import Yams

/// The pipeline file: its keys, its stages, and their dependency order.
extension YAMLReader {
    static let pipelineKeys = ["name", "run", "stages", "preflight"]
    static let stageKeys = ["name", "command", "needs", "inputs", "outputs", "env", "retries", "max_restarts", "optional"]

    mutating func read(_ root: Node, baseDirectory: String) throws -> PipelineSpec {
        try count(root)
        let entries = try mapping(root, "the pipeline", allowed: Self.pipelineKeys)
        func value(_ key: String) -> Node? { entries.first { $0.key == key }?.value }
        let top = location(root)
        guard let nameNode = value("name") else { throw usage(top, "the pipeline has no `name`") }
        guard let runNode = value("run") else { throw usage(top, "the pipeline has no `run` (its run directory)") }
        guard let stagesNode = value("stages") else { throw usage(top, "the pipeline has no `stages`") }
        let name = try string(nameNode, "`name`")
        let run = try string(runNode, "`run`")
        guard !name.isEmpty else { throw usage(location(nameNode), "`name` is empty") }
        guard !run.isEmpty else { throw usage(location(runNode), "`run` is empty") }
        guard case .sequence(let stageNodes) = stagesNode else {
            throw usage(location(stagesNode), "`stages` must be a list of stages, found \(Self.kind(stagesNode))")
        }
        guard !stageNodes.isEmpty else { throw usage(location(stagesNode), "`stages` is empty") }
        guard stageNodes.count <= PipelineSpec.maxStages else {
            throw usage(location(stagesNode), "more than \(PipelineSpec.maxStages) stages")
        }

        var stages: [StageSpec] = []
        var needLocations: [String: [SourceLocation]] = [:]
        for node in stageNodes {
            let (stage, locations) = try readStage(node, run: run)
            if let first = stages.first(where: { $0.name == stage.name }) {
                throw usage(stage.location, "a second stage is named `\(stage.name)` (the first is at line \(first.location.line))")
            }
            stages.append(stage)
            needLocations[stage.name] = locations
        }
        for stage in stages {
            for (i, need) in stage.needs.enumerated() where !stages.contains(where: { $0.name == need }) {
                let known = stages.map(\.name).joined(separator: ", ")
                throw usage(needLocations[stage.name]![i], "stage `\(stage.name)` needs `\(need)`, which is not a stage of this pipeline (the stages are \(known))")
            }
        }
        let ordered = try PipelineGraph.order(stages, needLocations: needLocations, file: file)

        var preflight: [PreflightCheck] = []
        if let node = value("preflight") {
            guard case .sequence(let checks) = node else {
                throw usage(location(node), "`preflight` must be a list of {name, command}, found \(Self.kind(node))")
            }
            for check in checks {
                let fields = try mapping(check, "a preflight check", allowed: ["name", "command"])
                guard let n = fields.first(where: { $0.key == "name" }) else { throw usage(location(check), "a preflight check has no `name`") }
                guard let c = fields.first(where: { $0.key == "command" }) else { throw usage(location(check), "a preflight check has no `command`") }
                let checkName = try string(n.value, "a preflight check's `name`")
                let command = try command(c.value, "preflight check `\(checkName)`'s command", substitutions: ["run": run])
                preflight.append(PreflightCheck(name: checkName, command: command, location: location(check)))
            }
        }
        return PipelineSpec(name: name, run: run, stages: ordered, preflight: preflight, baseDirectory: baseDirectory, file: file)
    }

    /// One stage, and the locations of its `needs` entries.
    func readStage(_ node: Node, run: String) throws -> (StageSpec, [SourceLocation]) {
        let at = location(node)
        let fields = try mapping(node, "a stage", allowed: Self.stageKeys)
        func value(_ key: String) -> Node? { fields.first { $0.key == key }?.value }
        guard let nameNode = value("name") else { throw usage(at, "a stage has no `name`") }
        let name = try string(nameNode, "a stage's `name`")
        guard Self.isValidName(name) else {
            throw usage(location(nameNode), "the stage name `\(name)` is not valid: use letters, digits, `_`, `-` and `.` (not first), at most 100 characters")
        }
        guard let commandNode = value("command") else { throw usage(at, "stage `\(name)` has no `command`") }
        let stageDir = run + "/stages/" + name
        let substitutions = ["run": run, "stage_dir": stageDir, "name": name]
        let command = try command(commandNode, "stage `\(name)`'s command", substitutions: substitutions)

        var needs: [String] = []
        var needLocations: [SourceLocation] = []
        if let n = value("needs") {
            for (need, loc) in try strings(n, "stage `\(name)`'s `needs`") {
                guard need != name else { throw usage(loc, "stage `\(name)` needs itself (a cycle: \(name) → \(name))") }
                guard !needs.contains(need) else { throw usage(loc, "stage `\(name)` lists `\(need)` twice in `needs`") }
                needs.append(need)
                needLocations.append(loc)
            }
        }
        var inputs: [String] = []
        if let n = value("inputs") {
            for (input, loc) in try strings(n, "stage `\(name)`'s `inputs`") {
                let path = try Placeholders.substitute(input, substitutions, at: loc, in: "stage `\(name)`'s `inputs`")
                guard !path.isEmpty else { throw usage(loc, "an input of stage `\(name)` is empty") }
                inputs.append(path)
            }
        }
        var outputs: [String] = []
        if let n = value("outputs") {
            for (output, loc) in try strings(n, "stage `\(name)`'s `outputs`") {
                let path = try Placeholders.substitute(output, ["name": name], at: loc, in: "stage `\(name)`'s `outputs` (relative to the run directory)")
                let parts = path.split(separator: "/", omittingEmptySubsequences: false)
                guard !path.hasPrefix("/"), !parts.isEmpty, !parts.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }) else {
                    throw usage(loc, "output `\(output)` of stage `\(name)` must be a relative path inside the run directory (no `/` first, no `.`, `..` or empty parts)")
                }
                guard !outputs.contains(path) else { throw usage(loc, "stage `\(name)` lists output `\(path)` twice") }
                outputs.append(path)
            }
        }
        var env: [String: String] = [:]
        if let n = value("env") {
            guard case .mapping(let m) = n else {
                throw usage(location(n), "stage `\(name)`'s `env` must be a mapping of names to strings, found \(Self.kind(n))")
            }
            for (k, v) in m {
                let key = try string(k, "an env name")
                guard Self.isEnvName(key) else { throw usage(location(k), "`\(key)` is not a valid environment variable name") }
                guard case .scalar(let s) = v, v.null == nil else {
                    throw usage(location(v), "env `\(key)` of stage `\(name)` must be a string, found \(Self.kind(v))")
                }
                env[key] = try Placeholders.substitute(s.string, substitutions, at: location(v), in: "env `\(key)` of stage `\(name)`")
            }
        }
        let retries = try value("retries").map { try count($0, "stage `\(name)`'s `retries`") }
        let maxRestarts = try value("max_restarts").map { try count($0, "stage `\(name)`'s `max_restarts`") }
        let optional = try value("optional").map { try bool($0, "stage `\(name)`'s `optional`") } ?? false
        let stage = StageSpec(
            name: name, command: command, needs: needs, inputs: inputs, outputs: outputs, env: env, retries: retries,
            maxRestarts: maxRestarts, optional: optional, location: at)
        return (stage, needLocations)
    }
}

/// Dependency order and cycle detection.
enum PipelineGraph {
    /// The stages with each after everything it needs (otherwise in file order).
    /// - Throws: `.usage` naming a cycle (`a → b → a`) at the `needs` entry that closes it.
    static func order(_ stages: [StageSpec], needLocations: [String: [SourceLocation]], file: String) throws -> [StageSpec] {
        let byName = Dictionary(uniqueKeysWithValues: stages.map { ($0.name, $0) })
        // Depth-first search for a cycle, in file order (so the error is stable).
        var state: [String: Int] = [:]  // 1 visiting, 2 done
        var path: [String] = []
        func visit(_ name: String) throws {
            if state[name] == 2 { return }
            if state[name] == 1 {
                let start = path.firstIndex(of: name)!
                let cycle = Array(path[start...]) + [name]
                let closing = path.last!
                let index = byName[closing]!.needs.firstIndex(of: name)!
                let at = needLocations[closing]?[index] ?? byName[closing]!.location
                throw ResumableError(.usage, "\(at): the stages form a cycle: \(cycle.joined(separator: " → ")).", path: file)
            }
            state[name] = 1
            path.append(name)
            for need in byName[name]!.needs { try visit(need) }
            path.removeLast()
            state[name] = 2
        }
        for stage in stages { try visit(stage.name) }

        var placed: Set<String> = []
        var ordered: [StageSpec] = []
        while ordered.count < stages.count {
            let next = stages.first { !placed.contains($0.name) && $0.needs.allSatisfy(placed.contains) }!
            placed.insert(next.name)
            ordered.append(next)
        }
        return ordered
    }
}
