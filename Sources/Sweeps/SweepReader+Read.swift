import DurableFiles
import Pipelines
import Yams

extension SweepReader {
    static let sweepKeys = [
        "name", "run", "command", "matrix", "include", "exclude", "result", "workers", "retries", "timeout", "env", "max_restarts",
    ]

    /// The templates of a sweep, checked against the placeholders it knows.
    struct Templates {
        /// One for a string command, one per argument for a list.
        var command: [SweepTemplate]
        var isShell: Bool
        var env: [String: SweepTemplate]
        var result: SweepTemplate

        /// Every template with what it is, for messages.
        var all: [(SweepTemplate, String)] {
            command.map { ($0, "the command") } + env.keys.sorted().map { (env[$0]!, "env `\($0)`") } + [(result, "`result`")]
        }
    }

    mutating func read(_ root: Node, baseDirectory: String) throws -> SweepSpec {
        try yaml.count(root)
        let entries = try yaml.mapping(root, "the sweep", allowed: Self.sweepKeys)
        func value(_ key: String) -> Node? { entries.first { $0.key == key }?.value }
        let top = location(root)
        guard let nameNode = value("name") else { throw usage(top, "the sweep has no `name`") }
        guard let runNode = value("run") else { throw usage(top, "the sweep has no `run` (its run directory)") }
        guard let commandNode = value("command") else { throw usage(top, "the sweep has no `command`") }
        let name = try yaml.string(nameNode, "`name`")
        guard YAMLReader.isValidName(name) else {
            throw usage(
                location(nameNode), "the sweep name `\(name)` is not valid: use letters, digits, `_`, `-` and `.` (not first), at most 100 characters")
        }
        let run = try yaml.string(runNode, "`run`")
        guard !run.isEmpty else { throw usage(location(runNode), "`run` is empty") }

        let matrix = try value("matrix").map(readMatrix) ?? []
        let include = try value("include").map { try readCombinations($0, "`include`") } ?? []
        guard value("matrix") != nil || !include.isEmpty else {
            throw usage(top, "the sweep has no `matrix` (a mapping of parameter names to lists of values) and no `include`")
        }
        var names = matrix.map(\.name)
        for combination in include {
            for p in combination.params where !names.contains(p.name) { names.append(p.name) }
        }
        guard names.count <= SweepSpec.maxParameters else {
            throw usage(top, "the sweep has \(names.count) parameters, more than \(SweepSpec.maxParameters)")
        }
        let exclude = try value("exclude").map { try readExclude($0, matrix: matrix) } ?? []

        let known = Set(names + SweepSpec.builtinPlaceholders)
        let templates = try readTemplates(command: commandNode, env: value("env"), result: value("result"), known: known)
        try checkEveryUnitHasItsPlaceholders(templates, matrix: matrix, include: include)

        let workers = try value("workers").map { try number($0, "`workers`", in: 1...256) } ?? SweepSpec.defaultWorkers
        let retries = try value("retries").map { try number($0, "`retries`", in: 0...1000) } ?? SweepSpec.defaultRetries
        let maxRestarts = try value("max_restarts").map { try number($0, "`max_restarts`", in: 0...1000) } ?? SweepSpec.defaultMaxRestarts
        let timeoutSeconds = try value("timeout").map { try self.timeout($0) }

        var runPath = run
        while runPath.count > 1, runPath.hasSuffix("/") { runPath.removeLast() }
        let runDirectory = FilePath.absolute(runPath.hasPrefix("/") || baseDirectory == "." || baseDirectory.isEmpty ? runPath : baseDirectory + "/" + runPath)
        let commandAsWritten: StageCommand
        switch commandNode {
        case .scalar(let s): commandAsWritten = .shell(s.string)
        default: commandAsWritten = .arguments(try yaml.strings(commandNode, "the command").map(\.0))
        }

        let combinations = try matrixCombinations(matrix, exclude: exclude, includes: include.count, at: value("matrix").map(location) ?? top)
        var spec = SweepSpec(
            name: name, run: run, command: commandAsWritten, matrix: matrix, include: include, exclude: exclude,
            result: templateText(value("result")) ?? SweepSpec.defaultResult, workers: workers, retries: retries, timeout: timeoutSeconds,
            env: try readEnvText(value("env")), maxRestarts: maxRestarts, baseDirectory: baseDirectory, file: file,
            runDirectory: runDirectory, units: [])
        spec.setsMaxRestarts = value("max_restarts") != nil
        var expander = UnitExpander(spec: spec, templates: templates)
        for params in combinations { try expander.add(params, origin: .matrix) }
        for combination in include { try expander.add(combination.params, origin: .include(combination.location)) }
        guard !expander.units.isEmpty else { throw usage(value("exclude").map(location) ?? top, "`exclude` leaves out every unit; the sweep has none") }
        spec.units = expander.units
        return spec
    }

    /// `matrix`: a non-empty mapping of parameter names to non-empty lists of scalars.
    func readMatrix(_ node: Node) throws -> [SweepAxis] {
        guard case .mapping(let pairs) = node else {
            throw usage(location(node), "`matrix` must be a mapping of parameter names to lists of values, found \(Self.kind(node))")
        }
        guard !pairs.isEmpty else { throw usage(location(node), "`matrix` is empty; give each parameter a list of values") }
        var axes: [SweepAxis] = []
        for (k, v) in pairs {
            let name = try yaml.string(k, "a matrix parameter's name")
            try checkParameterName(name, at: location(k))
            guard case .sequence(let items) = v else {
                let one = v.scalar.map { " (write [\($0.string)] for a single value)" } ?? ""
                throw usage(location(v), "matrix parameter `\(name)` must be a list of values, found \(Self.kind(v))\(one)")
            }
            guard !items.isEmpty else { throw usage(location(v), "matrix parameter `\(name)` has an empty list of values; give at least one") }
            var values: [SweepValue] = []
            for item in items {
                let typed = try value(item, "a value of matrix parameter `\(name)`")
                if !values.contains(typed) { values.append(typed) }  // a value listed twice is one unit
            }
            axes.append(SweepAxis(name: name, values: values, location: location(k)))
        }
        return axes
    }

    /// `include` (or `exclude`): a list of mappings of parameter names to scalars.
    func readCombinations(_ node: Node, _ what: String) throws -> [SweepCombination] {
        guard case .sequence(let items) = node else {
            throw usage(location(node), "\(what) must be a list of mappings of parameter names to values, found \(Self.kind(node))")
        }
        var combinations: [SweepCombination] = []
        for item in items {
            guard case .mapping(let pairs) = item else {
                throw usage(location(item), "each entry of \(what) must be a mapping of parameter names to values, found \(Self.kind(item))")
            }
            var params: [SweepParameter] = []
            for (k, v) in pairs {
                let name = try yaml.string(k, "a parameter name in \(what)")
                try checkParameterName(name, at: location(k))
                params.append(SweepParameter(name: name, value: try value(v, "`\(name)` in \(what)")))
            }
            combinations.append(SweepCombination(params: params, location: location(item)))
        }
        return combinations
    }

    /// `exclude`: non-empty mappings naming matrix parameters, each value one of the parameter's,
    /// so every exclude leaves out at least one unit (a misspelt value is an error, not a no-op).
    func readExclude(_ node: Node, matrix: [SweepAxis]) throws -> [SweepCombination] {
        let combinations = try readCombinations(node, "`exclude`")
        guard case .sequence(let items) = node else { return combinations }
        for (combination, item) in zip(combinations, items) {
            guard case .mapping(let pairs) = item, !pairs.isEmpty else {
                throw usage(combination.location, "an entry of `exclude` is empty; it would leave out every unit")
            }
            for ((k, v), pair) in zip(pairs, combination.params) {
                guard let axis = matrix.first(where: { $0.name == pair.name }) else {
                    let names = matrix.isEmpty ? "the sweep has no matrix" : "the matrix parameters are " + matrix.map { "`\($0.name)`" }.joined(separator: ", ")
                    throw usage(location(k), "`exclude` names `\(pair.name)`, which is not a matrix parameter (\(names))")
                }
                guard axis.values.contains(pair.value) else {
                    throw usage(
                        location(v),
                        "`exclude` gives `\(pair.name)` the value \(pair.value.canonicalJSON) (\(pair.value.typeName)), which is not one of its values (\(axis.values.map(\.canonicalJSON).joined(separator: ", "))), so it leaves out nothing")
                }
            }
        }
        return combinations
    }

    /// The command, env and result templates, every placeholder checked.
    func readTemplates(command node: Node, env envNode: Node?, result resultNode: Node?, known: Set<String>) throws -> Templates {
        var command: [SweepTemplate] = []
        var isShell = true
        switch node {
        case .scalar(let s) where node.null == nil:
            guard !s.string.allSatisfy(\.isWhitespace) else { throw usage(location(node), "the command is empty") }
            command = [try SweepTemplate(s.string, known: known, at: location(node), in: "the command")]
        case .sequence(let items):
            guard !items.isEmpty else { throw usage(location(node), "the command is an empty list; give the program and its arguments") }
            isShell = false
            for item in items {
                let text = try templateString(item, "each argument of the command")
                command.append(try SweepTemplate(text, known: known, at: location(item), in: "the command"))
            }
        default:
            throw usage(
                location(node),
                "the command must be a string (run by /bin/sh -c) or a list (the program and its arguments), found \(Self.kind(node))\(Self.braceHint(node))")
        }
        var env: [String: SweepTemplate] = [:]
        if let envNode {
            guard case .mapping(let pairs) = envNode else {
                throw usage(location(envNode), "`env` must be a mapping of names to strings, found \(Self.kind(envNode))")
            }
            for (k, v) in pairs {
                let key = try yaml.string(k, "an env name")
                guard YAMLReader.isEnvName(key) else { throw usage(location(k), "`\(key)` is not a valid environment variable name") }
                let text = try templateString(v, "env `\(key)`")
                env[key] = try SweepTemplate(text, known: known, at: location(v), in: "env `\(key)`")
            }
        }
        var result = try SweepTemplate(SweepSpec.defaultResult, known: known, at: location(node), in: "`result`")
        if let resultNode {
            let text = try templateString(resultNode, "`result`")
            guard !text.isEmpty else { throw usage(location(resultNode), "`result` is empty; leave it out for {output}") }
            result = try SweepTemplate(text, known: known, at: location(resultNode), in: "`result`")
        }
        return Templates(command: command, isShell: isShell, env: env, result: result)
    }

    /// Every unit has a value for every parameter the templates use: matrix
    /// units for matrix parameters only, an include for its own.
    func checkEveryUnitHasItsPlaceholders(_ templates: Templates, matrix: [SweepAxis], include: [SweepCombination]) throws {
        var used: [(name: String, template: SweepTemplate, what: String)] = []
        for (template, what) in templates.all {
            for name in template.placeholders where !SweepSpec.builtinPlaceholders.contains(name) && !used.contains(where: { $0.name == name }) {
                used.append((name, template, what))
            }
        }
        if !matrix.isEmpty, let missing = used.first(where: { u in !matrix.contains { $0.name == u.name } }) {
            throw usage(
                missing.template.location,
                "\(missing.what) uses {\(missing.name)}, which is not a matrix parameter, so the matrix's units have no value for it (only `include` gives one)")
        }
        for combination in include {
            if let missing = used.first(where: { u in !combination.params.contains { $0.name == u.name } }) {
                throw usage(combination.location, "this include has no value for `\(missing.name)`, which \(missing.what) uses; give it one")
            }
        }
    }

    /// The matrix product in the file's order (the last parameter varying
    /// fastest) without the excluded combinations, after the unit limits are checked.
    func matrixCombinations(_ matrix: [SweepAxis], exclude: [SweepCombination], includes: Int, at: SourceLocation) throws -> [[SweepParameter]] {
        var product = matrix.isEmpty ? 0 : 1
        for axis in matrix {
            let (p, overflow) = product.multipliedReportingOverflow(by: axis.values.count)
            product = overflow ? Int.max : p
        }
        let sizes = matrix.map { String($0.values.count) }.joined(separator: " × ")
        if product > SweepSpec.hardMaxUnits - includes {
            throw usage(
                at,
                "the matrix has \(product == Int.max ? "more than \(Int.max)" : String(product)) combinations (\(sizes))\(includes > 0 ? " and \(includes) includes" : ""), more than \(SweepSpec.hardMaxUnits), the most a sweep may have; split it into several sweeps")
        }
        var combinations: [[SweepParameter]] = []
        combinations.reserveCapacity(product)
        if product > 0 {
            var index = [Int](repeating: 0, count: matrix.count)
            outer: while true {
                let params = zip(matrix, index).map { SweepParameter(name: $0.name, value: $0.values[$1]) }
                if !exclude.contains(where: { $0.matches(params) }) { combinations.append(params) }
                var d = matrix.count - 1
                while d >= 0 {
                    index[d] += 1
                    if index[d] < matrix[d].values.count { continue outer }
                    index[d] = 0
                    d -= 1
                }
                break
            }
        }
        let count = combinations.count + includes
        if !allowLarge, count > SweepSpec.maxUnits {
            throw usage(
                at,
                "the sweep has \(count) units (\(matrix.isEmpty ? "" : "matrix \(sizes) = \(product), \(product - combinations.count) excluded, ")\(includes) included), more than \(SweepSpec.maxUnits); pass --allow-large to run that many")
        }
        return combinations
    }

    func templateText(_ node: Node?) -> String? {
        guard let node, case .scalar(let s) = node else { return nil }
        return s.string
    }

    func readEnvText(_ node: Node?) throws -> [String: String] {
        guard let node, case .mapping(let pairs) = node else { return [:] }
        var env: [String: String] = [:]
        for (k, v) in pairs {
            if case .scalar(let key) = k, case .scalar(let s) = v { env[key.string] = s.string }
        }
        return env
    }
}
