import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import Resumable

/// `resumable progress --epoch E --of N`: a job reports its own progress.
struct ProgressCommand: ParsableCommand, LoggingConfigurable {
    static let configuration = CommandConfiguration(
        commandName: "progress",
        abstract: "Report a job's progress (epoch E of N, step, counters) to RUN/progress.json.",
        discussion: """
            Called by the job itself, every epoch or more often: the report replaces RUN/progress.json
            atomically (temporary file, fsync, rename) and `resumable status RUN` shows it. It does not
            take the run's lock, so it never waits for a checkpoint commit (it touches none of the
            commit's files) and works under `resumable run`, which holds the lock. The run directory is
            --run-dir, else RESUMABLE_RUN_DIR (set by `resumable run`); it is created when missing.
            """)

    @Option(help: ArgumentHelp("The epoch reached (0 or more).", valueName: "e"))
    var epoch: Int64

    @Option(help: ArgumentHelp("How many epochs there are (1 or more).", valueName: "n"))
    var of: Int64

    @Option(help: ArgumentHelp("The step reached (0 or more).", valueName: "s"))
    var step: Int64?

    @Option(name: .customLong("set"), help: ArgumentHelp("A counter KEY=NUMBER (repeatable).", valueName: "key=number"))
    var counters: [String] = []

    @Option(help: ArgumentHelp("The run directory (default: RESUMABLE_RUN_DIR).", valueName: "dir"))
    var runDir: String?

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        if epoch < 0 { throw ValidationError("--epoch must be 0 or more, not \(epoch).") }
        if of < 1 { throw ValidationError("--of must be 1 or more, not \(of).") }
        if epoch > of { throw ValidationError("--epoch \(epoch) is past --of \(of).") }
        if let step, step < 0 { throw ValidationError("--step must be 0 or more, not \(step).") }
        if counters.count > RunProgress.maxCounters {
            throw ValidationError("at most \(RunProgress.maxCounters) --set counters, not \(counters.count).")
        }
        for text in counters {
            let key = try KeyValueArgument.split(text, option: "--set").key
            if key.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) || key.utf8.count > 255 {
                throw ValidationError("--set \(Terminal.escapingControlCharacters(text)): a counter name is at most 255 bytes, without control characters.")
            }
        }
    }

    func run() throws {
        let directory: String
        if let runDir, !runDir.isEmpty {
            directory = runDir
        } else if let value = getenv("RESUMABLE_RUN_DIR"), !String(cString: value).isEmpty {
            directory = String(cString: value)
        } else {
            throw ResumableError(.usage, "no run directory: give --run-dir DIR, or set RESUMABLE_RUN_DIR (`resumable run` sets it).")
        }
        try References.requireLocal(directory)
        let report = RunProgress(epoch: epoch, of: of, step: step, counters: try KeyValueArgument.metrics(counters, option: "--set"))
        try report.write(to: directory)
    }
}
