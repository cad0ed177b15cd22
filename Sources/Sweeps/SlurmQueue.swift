import DurableFiles
import Glibc
import Pipelines

/// Asks Slurm's `squeue` for the states of jobs (`sweep status` on units a
/// Slurm array task runs).
///
/// One `squeue -h -r -j JOB -o "%i %T"` per job (`-r` lists an array's tasks
/// one per line, as `JOB_TASK STATE`), each given at most ``timeout`` seconds
/// and all together at most twice that, so a slow or hung controller never
/// holds `sweep status` up for long. Without `squeue` in `PATH` nothing is
/// asked: the job ids are shown alone.
public struct SlurmQueue: Sendable {
    /// The `squeue` to run; `nil` looks it up in `PATH`.
    public var program: String?
    /// Seconds one `squeue` may take.
    public var timeout: Double

    public init(program: String? = nil, timeout: Double = 5) {
        self.program = program
        self.timeout = timeout
    }

    /// What `squeue` said.
    public struct Answer: Sendable {
        /// The state of each job or array task `squeue` listed, by `%i` (`JOB` or `JOB_TASK`).
        public var states: [String: String] = [:]
        /// The jobs `squeue` was asked about and answered for (a job it does not list has left the queue).
        public var asked: Set<String> = []
        /// Why it could not be asked (it failed, timed out); `nil` when it answered or is not installed.
        public var problem: String?

        public init() {}

        /// The state of `task`: its array task's line, else the job's; `NOT_IN_QUEUE` when
        /// `squeue` answered for the job without listing it; `nil` when it was not asked.
        public func state(of task: SlurmTask) -> String? {
            if let id = task.arrayTaskID, let state = states["\(task.jobID)_\(id)"] { return state }
            if let state = states[task.jobID] { return state }
            return asked.contains(task.jobID) ? "NOT_IN_QUEUE" : nil
        }
    }

    /// The states of `jobs` (Slurm job ids, array jobs' ids for array tasks).
    public func states(jobs: [String]) -> Answer {
        var answer = Answer()
        guard let program = program ?? Self.find("squeue") else { return answer }
        let start = Timestamp.monotonic()
        var environment: [String: String] = [:]
        for name in ["PATH", "HOME", "USER", "SLURM_CONF", "SLURM_CLUSTERS", "LANG", "LC_ALL"] {
            if let value = getenv(name) { environment[name] = String(cString: value) }
        }
        for job in jobs {
            // Only job ids (digits, `_`) reach squeue's command line: anything else in a record is not asked about.
            guard !job.isEmpty, job.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5F }) else { continue }
            if Timestamp.monotonic() - start > 2 * timeout {
                answer.problem = "squeue took more than \(Int(2 * timeout)) seconds; the states of the remaining jobs are not shown"
                break
            }
            let run = CapturedCommand.run(
                [program, "-h", "-r", "-j", job, "-o", "%i %T"], environment: environment, directory: "/", timeout: timeout, killGrace: 1,
                leftoverGrace: 0.5)
            switch run.ending {
            case .exited(0):
                answer.asked.insert(job)
                for line in String(decoding: run.output, as: UTF8.self).split(separator: "\n") {
                    let fields = line.split(separator: " ", omittingEmptySubsequences: true)
                    guard fields.count >= 2 else { continue }
                    answer.states[String(fields[0])] = String(fields[1])
                }
            case .exited(let code):
                // squeue exits 1 for a job id it does not know any more ("Invalid job id specified").
                let said = run.lastLines(1).first ?? ""
                if said.contains("Invalid job id") {
                    answer.asked.insert(job)
                } else {
                    answer.problem = "squeue -j \(job) exited with \(code)" + (said.isEmpty ? "" : ": \(said)")
                }
            case .signaled(let signal):
                answer.problem = "squeue -j \(job) was killed by signal \(signal)"
            case .timedOut(let seconds):
                answer.problem = "squeue -j \(job) did not answer within \(Int(seconds)) seconds"
            case .cannotStart(let why):
                answer.problem = "squeue could not be started: \(why)"
            }
        }
        return answer
    }

    /// The first executable `name` in `PATH`.
    static func find(_ name: String) -> String? {
        guard let path = getenv("PATH").map({ String(cString: $0) }) else { return nil }
        for directory in path.split(separator: ":") where !directory.isEmpty {
            let candidate = directory + "/" + name
            if access(candidate, X_OK) == 0, FileSystem.entryType(candidate) != .directory { return candidate }
        }
        return nil
    }
}
