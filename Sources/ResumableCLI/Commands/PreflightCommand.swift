import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import Resumable

/// `resumable preflight RUN|FILE`: a checklist before a long job (or a pipeline) starts.
struct PreflightCommand: ParsableCommand, LoggingConfigurable {
    static let configuration = CommandConfiguration(
        commandName: "preflight",
        abstract: "Check a run or a pipeline before a long job starts: disk space, writable, lock, checkpoints, config, your own checks.",
        discussion: """
            Prints one line per check (✓/✗ on a terminal, ok/FAIL otherwise) and exits 1 when any \
            fails. Disk space: free bytes ≥ the expected checkpoint size (--expect-bytes, else the \
            latest checkpoint's) × (--keep, default 3, + 2). Writable: a probe file is created and \
            removed. Lock: no live process holds it. Latest checkpoint: its files have their \
            recorded sizes (--full: their checksums). Config: the latest checkpoint's config \
            fingerprint is run.json's. A run that does not exist yet is checked on its nearest \
            existing parent directory.

            A PATH that is a file (or ends in .yaml/.yml) is a pipeline file: its run directory \
            gets disk space (sized by the largest latest checkpoint of its stages), writable and \
            lock; every stage with checkpoints gets "stage NAME: latest checkpoint" and "stage \
            NAME: config"; then the file's own `preflight:` commands run in order, in the file's \
            directory, stdin /dev/null, output captured: exit 0 passes, otherwise the exit code \
            (or signal) and the last 3 lines of output are shown. A command still running after \
            --check-timeout seconds gets SIGTERM (its whole process group), SIGKILL 2 s later. \
            `resumable pipeline run` runs the same checks first unless --no-preflight. \
            Exit 64/65 for a pipeline file with mistakes (FILE:LINE:COLUMN).
            """)

    @Argument(help: ArgumentHelp("A run directory (it may not exist yet), or a pipeline file.", valueName: "run|file"))
    var path: String

    @Flag(help: "Verify the latest checkpoints' checksums (reads every byte), not only their sizes.")
    var full = false

    @Option(help: ArgumentHelp("The expected size of one checkpoint in bytes (default: the latest's).", valueName: "n"))
    var expectBytes: Int64?

    @Option(help: ArgumentHelp("How many checkpoints are kept (default 3).", valueName: "n"))
    var keep: Int?

    @Option(help: ArgumentHelp("Seconds each of a pipeline file's own checks may run (default 300).", valueName: "seconds"))
    var checkTimeout: Double = 300

    @OptionGroup var output: OutputOptions
    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        if let expectBytes, expectBytes < 0 { throw ValidationError("--expect-bytes must be 0 or more, not \(expectBytes).") }
        if let keep, keep < 1 || keep > 1_000_000 { throw ValidationError("--keep must be between 1 and 1000000, not \(keep).") }
        if !(checkTimeout > 0 && checkTimeout <= 1_000_000) {
            throw ValidationError("--check-timeout must be more than 0 and at most 1000000 seconds, not \(checkTimeout).")
        }
    }

    func run() throws {
        try References.requireLocal(path)
        let options = Preflight.Options(full: full, expectBytes: expectBytes, keep: keep)
        let checks: [Preflight.Check]
        if Self.isPipelineFile(path) {
            if FilePath.lastComponent(of: path) == "run.json" {
                throw ResumableError(
                    .usage, "\(path) is a run's run.json, not a pipeline file; give the run directory, \(FilePath.parent(of: path)).",
                    path: path)
            }
            let spec = try PipelineSpec.load(path: path)
            checks = try PipelinePreflight.run(spec: spec, options: options, checkTimeout: checkTimeout)
        } else {
            checks = try Preflight.run(path, options: options)
        }
        let ok = checks.allSatisfy(\.ok)
        if output.json {
            Terminal.writeJSON(["ok": .bool(ok), "checks": .array(checks.map(\.json))])
        } else {
            Terminal.write(Self.text(checks, symbols: isatty(STDOUT_FILENO) == 1))
        }
        if !ok { throw ExitCode(1) }
    }

    /// Whether `path` names a pipeline file: it ends in `.yaml`/`.yml`, or it
    /// is a regular file (through a link too); a directory or nothing is a run.
    static func isPipelineFile(_ path: String) -> Bool {
        let lower = path.lowercased()
        if lower.hasSuffix(".yaml") || lower.hasSuffix(".yml") { return true }
        var st = stat()
        return stat(path, &st) == 0 && st.st_mode & S_IFMT == S_IFREG
    }

    /// The checklist: `✓ name  detail` on a terminal, `ok   name  detail`
    /// otherwise. A detail of several lines (a failed check's last output)
    /// continues on lines indented to the detail column.
    static func text(_ checks: [Preflight.Check], symbols: Bool) -> String {
        let width = checks.map(\.name.count).max() ?? 0
        let indent = String(repeating: " ", count: (symbols ? 1 : 4) + 1 + width + 2)
        var out = ""
        for check in checks {
            let mark = symbols ? (check.ok ? "\u{2713}" : "\u{2717}") : (check.ok ? "ok  " : "FAIL")
            let lines = check.detail.split(separator: "\n", omittingEmptySubsequences: false)
            out += "\(mark) \(check.name + String(repeating: " ", count: width - check.name.count))  \(lines.first ?? "")\n"
            for line in lines.dropFirst() { out += indent + line + "\n" }
        }
        let failed = checks.filter { !$0.ok }.count
        out += failed == 0 ? "all \(checks.count) checks passed\n" : "\(failed) of \(checks.count) checks failed\n"
        return out
    }
}
