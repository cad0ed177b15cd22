public import JSON
import Pipelines
import DurableFiles
import Glibc

/// Where every unit of a sweep stands, read from its unit records alone
/// (`resumable sweep status`): counts, counts by parameter, the failed units
/// with the last lines of their logs, the running ones (with their Slurm jobs),
/// interrupted ones, stale and damaged records.
///
/// Reading it writes nothing and takes no claim.
public struct SweepStatus: Sendable {
    /// How many units are in each state.
    public struct Counts: Sendable, Hashable {
        public var done = 0
        /// Failed (the last attempt failed), whether or not retries are left.
        public var failed = 0
        /// Running in a live process (or on another host, which cannot be checked).
        public var running = 0
        /// Stopped by a signal, or left `running` by a process that is gone: resumes at the next run.
        public var interrupted = 0
        /// Not started yet (no record, or reopened).
        public var pending = 0
        /// The record is damaged (left alone).
        public var damaged = 0

        public init() {}

        /// Every unit counted.
        public var total: Int { done + failed + running + interrupted + pending + damaged }

        mutating func add(_ status: UnitStatus?) {
            switch status {
            case .done?: done += 1
            case .failed?: failed += 1
            case .running?: running += 1
            case .interrupted?: interrupted += 1
            case .pending?: pending += 1
            case nil: damaged += 1
            }
        }

        /// `{"done", "failed", "running", "interrupted", "pending", "damaged"}`.
        public var json: JSONValue {
            .object([
                "done": .int(Int64(done)), "failed": .int(Int64(failed)), "running": .int(Int64(running)),
                "interrupted": .int(Int64(interrupted)), "pending": .int(Int64(pending)), "damaged": .int(Int64(damaged)),
            ])
        }
    }

    /// One unit of the sweep, as its record says.
    public struct UnitState: Sendable {
        public var unit: SweepUnit
        /// The status a reader sees (``UnitRecord/observedStatus``; `pending` without a record); `nil` when the record is damaged.
        public var status: UnitStatus?
        /// The record, when the unit has a valid one.
        public var record: UnitRecord?
    }

    /// The counts of the units having one value of a parameter.
    public struct ValueCounts: Sendable {
        /// The value; `nil` for the units that do not have the parameter (an include-only parameter).
        public var value: SweepValue?
        public var counts: Counts
    }

    /// The counts by value of one parameter.
    public struct ParameterCounts: Sendable {
        public var name: String
        /// The matrix's values in the file's order, then values only includes have, then units without the parameter.
        public var values: [ValueCounts]
    }

    /// A failed unit and the end of its log.
    public struct Failure: Sendable {
        public var unit: SweepUnit
        public var record: UnitRecord
        /// The log, absolute (`RUN/sweeps/NAME/logs/KEY.log`).
        public var logPath: String
        /// The last lines of the log (at most ``logTailLines``), as written: not escaped.
        public var logTail: [String]
        /// Why the log could not be read (missing, a link…), when it could not.
        public var logProblem: String?
    }

    /// A unit running in a live process.
    public struct Running: Sendable {
        public var unit: SweepUnit
        public var record: UnitRecord
        /// The Slurm job's state (`RUNNING`, `PENDING`…) from `squeue`, when the record names a job and `squeue` answered.
        public var slurmState: String?
    }

    /// A record in `units/` that cannot be read.
    public struct Damaged: Sendable {
        public var key: String
        public var path: String
        public var reason: String
        /// Whether the key is a unit of the sweep (otherwise it is also stale).
        public var inSweep: Bool
    }

    /// Lines of a failed unit's log shown.
    public static let logTailLines = 5
    /// At most this many bytes are read from the end of a log.
    public static let logTailBytes = 8 << 10
    /// A log line longer than this is cut (with `…`).
    public static let logLineWidth = 500

    /// The sweep's name.
    public var name: String
    /// The sweep file.
    public var file: String
    /// `RUN/sweeps/NAME`, absolute.
    public var sweepDirectory: String
    /// Every unit of the sweep, in the spec's order.
    public var units: [UnitState]
    /// The counts over every unit.
    public var counts: Counts
    /// The counts by value, one table per parameter (the matrix's in the file's order, then include-only ones).
    public var parameters: [ParameterCounts]
    /// Failed units, in the spec's order.
    public var failures: [Failure]
    /// Units running in a live process (or on another host), in the spec's order.
    public var running: [Running]
    /// Units interrupted (they resume at the next run), in the spec's order.
    public var interrupted: [UnitState]
    /// Keys of the records on disk that are no unit of the sweep (from an earlier matrix, command or env), sorted.
    public var staleKeys: [String]
    /// Records that cannot be read, in the sweep or not, sorted by key.
    public var damaged: [Damaged]
    /// What `squeue` said when it was asked and failed (not found is not a problem: ids are shown alone).
    public var slurmProblem: String?

    /// Reads the status of `spec` from its records.
    /// - Parameter slurm: how Slurm job states are asked for (``SlurmQueue/states(jobs:timeout:)`` by default);
    ///   `nil` never asks.
    /// - Throws: when `units/` cannot be listed (a link or file in its place); a damaged record is not an error.
    public static func make(spec: SweepSpec, slurm: SlurmQueue? = SlurmQueue()) throws -> SweepStatus {
        let store = SweepStore(spec: spec)
        let records = try store.records()
        var byKey: [String: StoredRecord] = [:]
        byKey.reserveCapacity(records.count)
        for stored in records { byKey[stored.key] = stored }

        var units: [UnitState] = []
        units.reserveCapacity(spec.units.count)
        var counts = Counts()
        for unit in spec.units {
            let state: UnitState
            switch byKey.removeValue(forKey: unit.key) {
            case nil: state = UnitState(unit: unit, status: .pending, record: nil)
            case .damaged?: state = UnitState(unit: unit, status: nil, record: nil)
            case .valid(let record)?: state = UnitState(unit: unit, status: record.observedStatus, record: record)
            }
            counts.add(state.status)
            units.append(state)
        }
        let specKeys = Set(spec.units.map(\.key))
        let damaged = records.compactMap { stored -> Damaged? in
            guard case .damaged(let key, let path, let reason) = stored else { return nil }
            return Damaged(key: key, path: path, reason: reason, inSweep: specKeys.contains(key))
        }
        let staleKeys = byKey.keys.sorted()

        let failedStates = units.filter { $0.status == .failed }
        let tails = failedStates.isEmpty ? [] : Parallel.map(failedStates) { state in try Self.logTail(path: store.logPath(state.unit.key)) }
        let failures = zip(failedStates, tails).map { state, tail -> Failure in
            let path = store.logPath(state.unit.key)
            switch tail {
            case .success(let lines): return Failure(unit: state.unit, record: state.record!, logPath: path, logTail: lines, logProblem: nil)
            case .failure(let error):
                let reason = (error as? ResumableError)?.message ?? "\(error)"
                return Failure(unit: state.unit, record: state.record!, logPath: path, logTail: [], logProblem: reason)
            }
        }

        var running = units.filter { $0.status == .running }.map { Running(unit: $0.unit, record: $0.record!, slurmState: nil) }
        var slurmProblem: String?
        let jobs = Set(running.compactMap { $0.record.slurm?.jobID })
        if !jobs.isEmpty, let slurm {
            let answer = slurm.states(jobs: jobs.sorted())
            slurmProblem = answer.problem
            for i in running.indices {
                guard let task = running[i].record.slurm else { continue }
                running[i].slurmState = answer.state(of: task)
            }
        }

        return SweepStatus(
            name: spec.name, file: spec.file, sweepDirectory: spec.sweepDirectory, units: units, counts: counts,
            parameters: Self.parameterCounts(spec: spec, units: units), failures: failures, running: running,
            interrupted: units.filter { $0.status == .interrupted }, staleKeys: staleKeys, damaged: damaged, slurmProblem: slurmProblem)
    }

    /// The counts by value of every parameter: the matrix's values in the
    /// file's order, then values only includes have (in the order first
    /// met), then the units that lack the parameter (value `nil`).
    static func parameterCounts(spec: SweepSpec, units: [UnitState]) -> [ParameterCounts] {
        spec.parameterNames.map { name in
            var order: [SweepValue] = spec.matrix.first { $0.name == name }?.values ?? []
            var index: [SweepValue: Int] = [:]
            for (i, value) in order.enumerated() { index[value] = i }
            var counts = [Counts](repeating: Counts(), count: order.count)
            var unset = Counts()
            for state in units {
                guard let value = state.unit.value(of: name) else {
                    unset.add(state.status)
                    continue
                }
                if let i = index[value] {
                    counts[i].add(state.status)
                } else {
                    index[value] = order.count
                    order.append(value)
                    var c = Counts()
                    c.add(state.status)
                    counts.append(c)
                }
            }
            var values = zip(order, counts).map { ValueCounts(value: $0, counts: $1) }
            if unset.total > 0 { values.append(ValueCounts(value: nil, counts: unset)) }
            return ParameterCounts(name: name, values: values)
        }
    }

    /// The first line of the text status: `Progress: 3/18 done, 1 failed, 2
    /// running`, then interrupted, damaged and pending units when there are any.
    public var progressLine: String {
        var line = "Progress: \(counts.done)/\(units.count) done, \(counts.failed) failed, \(counts.running) running"
        if counts.interrupted > 0 { line += ", \(counts.interrupted) interrupted" }
        if counts.damaged > 0 { line += ", \(counts.damaged) damaged" }
        if counts.pending > 0 { line += ", \(counts.pending) pending" }
        return line
    }

    /// The last `lines` lines of the log at `path`, reading at most
    /// `maxBytes` from its end (never the whole file), never through a link;
    /// a line cut by the read's start is marked with `…`, a line longer than
    /// ``logLineWidth`` is cut. Blank lines at the end are left out; lines
    /// are not escaped.
    /// - Throws: `.notFound` when there is no log; `.corrupt` for a link,
    ///   directory or FIFO in its place; I/O errors.
    public static func logTail(path: String, lines: Int = logTailLines, maxBytes: Int = logTailBytes) throws -> [String] {
        let fd = try FileSystem.openRegularFile(path, O_RDONLY)
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw ResumableError.system("read the size of", path: path, errno: errno) }
        let size = Int64(st.st_size)
        let start = max(0, size - Int64(maxBytes))
        var bytes = [UInt8](repeating: 0, count: Int(size - start))
        var filled = 0
        while filled < bytes.count {
            let n = bytes.withUnsafeMutableBytes { raw in
                pread(fd, raw.baseAddress! + filled, raw.count - filled, off_t(start) + off_t(filled))
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw ResumableError.system("read", path: path, errno: errno)
            }
            if n == 0 { break }  // the file shrank meanwhile
            filled += n
        }
        bytes.removeSubrange(filled...)
        var pieces = bytes.split(separator: 0x0A, omittingEmptySubsequences: false).map { $0.last == 0x0D ? $0.dropLast() : $0 }
        let cutAtStart = start > 0
        while let last = pieces.last, last.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { pieces.removeLast() }
        var result: [String] = []
        for (i, piece) in pieces.enumerated().reversed() {
            var line = String(decoding: piece, as: UTF8.self)
            if i == 0 && cutAtStart { line = "…" + line }
            if line.count > logLineWidth { line = String(line.prefix(logLineWidth)) + "…" }
            result.append(line)
            if result.count == lines { break }
        }
        return result.reversed()
    }

    /// The status as `sweep status --json` prints it (docs/SWEEPS.md, "sweep status").
    public var json: JSONValue {
        func params(_ unit: SweepUnit) -> JSONValue { unit.paramsJSON }
        let parameterJSON: [JSONValue] = parameters.map { p in
            .object([
                "name": .string(p.name),
                "values": .array(
                    p.values.map { v in
                        guard case .object(var o) = v.counts.json else { return .null }
                        o["value"] = v.value?.json ?? .null
                        return .object(o)
                    }),
            ])
        }
        let failedJSON: [JSONValue] = failures.map { f in
            .object([
                "key": .string(f.unit.key), "params": params(f.unit), "attempts": .int(Int64(f.record.attempts)),
                "exit_code": f.record.exitCode.map { .int(Int64($0)) } ?? .null,
                "finished_at": f.record.finishedAt.map { .string($0) } ?? .null, "log": .string(f.logPath),
                "log_tail": .array(f.logTail.map { .string($0) }), "log_problem": f.logProblem.map { .string($0) } ?? .null,
                "error_tail": .array(f.record.errorTail.map { .string($0) }),
            ])
        }
        let runningJSON: [JSONValue] = running.map { r in
            var slurm: JSONValue = .null
            if let task = r.record.slurm {
                slurm = .object([
                    "job_id": .string(task.jobID), "array_task_id": task.arrayTaskID.map { .int(Int64($0)) } ?? .null,
                    "state": r.slurmState.map { .string($0) } ?? .null,
                ])
            }
            return .object([
                "key": .string(r.unit.key), "params": params(r.unit), "attempts": .int(Int64(r.record.attempts)),
                "started_at": r.record.startedAt.map { .string($0) } ?? .null, "owner": r.record.owner?.json ?? .null, "slurm": slurm,
            ])
        }
        let interruptedJSON: [JSONValue] = interrupted.map { s in
            .object([
                "key": .string(s.unit.key), "params": params(s.unit), "attempts": .int(Int64(s.record?.attempts ?? 0)),
                "started_at": s.record?.startedAt.map { .string($0) } ?? .null,
            ])
        }
        let unitsJSON: [JSONValue] = units.map { s in
            .object([
                "key": .string(s.unit.key), "params": params(s.unit), "status": .string(s.status?.rawValue ?? "damaged"),
                "attempts": .int(Int64(s.record?.attempts ?? 0)), "exit_code": s.record?.exitCode.map { .int(Int64($0)) } ?? .null,
                "duration_seconds": s.record?.durationSeconds.map { .double($0) } ?? .null,
            ])
        }
        return .object([
            "schema_version": 1, "name": .string(name), "file": .string(file), "sweep_directory": .string(sweepDirectory),
            "total": .int(Int64(units.count)), "counts": counts.json, "parameters": .array(parameterJSON), "failed": .array(failedJSON),
            "running": .array(runningJSON), "interrupted": .array(interruptedJSON),
            "stale": .object(["count": .int(Int64(staleKeys.count)), "keys": .array(staleKeys.map { .string($0) })]),
            "damaged": .array(
                damaged.map { d in
                    .object(["key": .string(d.key), "path": .string(d.path), "reason": .string(d.reason), "in_sweep": .bool(d.inSweep)])
                }),
            "slurm_problem": slurmProblem.map { .string($0) } ?? .null,
            "units": .array(unitsJSON),
        ])
    }
}
