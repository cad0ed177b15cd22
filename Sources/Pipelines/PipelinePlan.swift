import DurableFiles

/// Which stages a `pipeline run` selects.
public struct PlanOptions: Sendable, Hashable {
    /// Only these stages (`--only`); empty is all.
    public var only: [String]
    /// This stage and everything downstream of it, run even when up to date (`--from`).
    public var from: String?
    /// Optional stages left out (`--skip`).
    public var skip: [String]
    /// Whether outputs are hashed to check them (otherwise sizes only).
    public var verifyOutputs: Bool

    public init(only: [String] = [], from: String? = nil, skip: [String] = [], verifyOutputs: Bool = true) {
        self.only = only
        self.from = from
        self.skip = skip
        self.verifyOutputs = verifyOutputs
    }
}

/// What a `pipeline run` will do, stage by stage, and why.
public struct PipelinePlan: Sendable, Hashable {
    public enum Action: String, Sendable { case run, skip }

    /// One stage's decision.
    public struct Step: Sendable, Hashable {
        public var stage: String
        public var action: Action
        /// Why, in one line: "command changed", "up to date", "not selected (--only)"…
        public var reason: String
        /// The fingerprint the stage has now (what a run records).
        public var fingerprint: StageFingerprint
    }

    /// Every stage of the pipeline in dependency order.
    public var steps: [Step]

    /// The stages that run, in order.
    public var stagesToRun: [String] { steps.filter { $0.action == .run }.map(\.stage) }

    /// Plans a run of `spec` against `ledger` (nothing runs, nothing is written).
    ///
    /// A stage runs when it is selected and: it is not `completed`; its
    /// fingerprint changed; its outputs are missing or changed; a stage it
    /// needs runs in this plan; or `--from` forces it. Upstream fingerprints
    /// are taken from the ledger, so a stage downstream of one that runs is
    /// planned to run ("upstream X re-runs").
    /// - Throws: `.usage` for an unknown stage in the options, `--skip` of a
    ///   stage that is not optional, or a selection whose unselected upstream
    ///   stages have not produced their outputs (the missing outputs named).
    public static func make(spec: PipelineSpec, ledger: StageLedger, options: PlanOptions = PlanOptions()) throws -> PipelinePlan {
        let names = Set(spec.stages.map(\.name))
        for name in options.only + options.skip + (options.from.map { [$0] } ?? []) where !names.contains(name) {
            throw ResumableError(
                .usage, "\(name) is not a stage of pipeline \(spec.name); the stages are \(spec.stages.map(\.name).joined(separator: ", ")).")
        }
        for name in options.skip where !spec.stage(named: name)!.optional {
            throw ResumableError(.usage, "Stage \(name) is not optional, so it cannot be skipped; mark it `optional: true` in \(spec.file).")
        }
        guard options.only.isEmpty || options.from == nil else {
            throw ResumableError(.usage, "--only and --from cannot be used together.")
        }
        let forced = options.from.map { spec.downstream(of: [$0]) } ?? []
        var selected = names
        if !options.only.isEmpty { selected = Set(options.only) }
        if options.from != nil { selected = forced }
        let selectionFlag = options.only.isEmpty ? "--from" : "--only"
        let skipped = Set(options.skip)
        let runDirectory = spec.runDirectory

        // Unselected upstream stages must have left their outputs.
        var missing: [String] = []
        for stage in spec.stages where selected.contains(stage.name) && !skipped.contains(stage.name) {
            for need in stage.needs where !selected.contains(need) {
                let record = ledger.record(need)
                guard record.status == .completed else {
                    missing.append("stage \(need) is \(record.observedStatus.rawValue) (needed by \(stage.name))")
                    continue
                }
                for output in record.outputs where FileSystem.entryType(runDirectory + "/" + output.path) != .regular {
                    missing.append("\(output.path) (from \(need), needed by \(stage.name))")
                }
            }
        }
        if !missing.isEmpty {
            throw ResumableError(
                .usage,
                "The selected stages need outputs that are missing: \(missing.joined(separator: "; ")). Run those stages first (without \(selectionFlag)).")
        }

        var steps: [Step] = []
        var running: Set<String> = []
        var left: Set<String> = []  // skipped by --skip, or downstream of such a stage without its outputs
        for stage in spec.stages {
            let record = ledger.record(stage.name)
            let fingerprint = try StageFingerprint.current(of: stage, in: spec, ledger: ledger)
            func step(_ action: Action, _ reason: String) {
                steps.append(Step(stage: stage.name, action: action, reason: reason, fingerprint: fingerprint))
                if action == .run { running.insert(stage.name) }
            }
            if skipped.contains(stage.name) {
                left.insert(stage.name)
                step(.skip, "skipped (--skip)")
                continue
            }
            if let need = stage.needs.first(where: { left.contains($0) && ledger.record($0).status != .completed }) {
                left.insert(stage.name)
                step(.skip, "needs \(need), which is skipped")
                continue
            }
            if !selected.contains(stage.name) {
                step(.skip, "not selected (\(selectionFlag))")
                continue
            }
            if let from = options.from, forced.contains(stage.name) {
                step(.run, stage.name == from ? "--from \(from)" : "downstream of --from \(from)")
                continue
            }
            if let reason = try Self.reasonToRun(stage, record: record, fingerprint: fingerprint, running: running,
                runDirectory: runDirectory, verifyOutputs: options.verifyOutputs) {
                step(.run, reason)
            } else {
                step(.skip, "up to date")
            }
        }
        return PipelinePlan(steps: steps)
    }

    /// Why `stage` must run, or `nil` when it is up to date.
    static func reasonToRun(
        _ stage: StageSpec, record: StageRecord, fingerprint: StageFingerprint, running: Set<String>, runDirectory: String,
        verifyOutputs: Bool
    ) throws -> String? {
        switch record.observedStatus {
        case .notStarted: return "not started"
        case .inProgress: return "in progress by a live process (pid \(record.owner?.pid ?? 0) on \(record.owner?.host ?? "?"))"
        case .interrupted: return "interrupted (attempt \(record.attempts)); resumes"
        case .failed: return "failed last time" + (record.exitCode.map { " (exit \($0))" } ?? "")
        case .skipped: return "skipped last time"
        case .completed: break
        }
        if let need = stage.needs.first(where: running.contains) { return "upstream \(need) re-runs" }
        guard let recorded = record.fingerprint else { return "no fingerprint recorded" }
        if let change = fingerprint.change(since: recorded) { return change }
        return try StageOutput.change(of: record.outputs, declared: stage.outputs, runDirectory: runDirectory, verifyContent: verifyOutputs)
    }
}
