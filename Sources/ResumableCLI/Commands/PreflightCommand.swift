import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import Resumable

/// `resumable preflight RUN`: a checklist before a long job starts.
struct PreflightCommand: ParsableCommand, LoggingConfigurable {
    static let configuration = CommandConfiguration(
        commandName: "preflight",
        abstract: "Check a run before a long job starts: disk space, writable, lock free, latest checkpoint, config.",
        discussion: """
            Prints one line per check (✓/✗ on a terminal, ok/FAIL otherwise) and exits 1 when any
            fails. Disk space: free bytes ≥ the expected checkpoint size (--expect-bytes, else the
            latest checkpoint's) × (--keep, default 3, + 2). Writable: a probe file is created and
            removed. Lock: no live process holds it. Latest checkpoint: its files have their
            recorded sizes (--full: their checksums). Config: the latest checkpoint's config
            fingerprint is run.json's. A run that does not exist yet is checked on its nearest
            existing parent directory.
            """)

    @Argument(help: ArgumentHelp("The run directory (it may not exist yet).", valueName: "run"))
    var runDirectory: String

    @Flag(help: "Verify the latest checkpoint's checksums (reads every byte), not only its sizes.")
    var full = false

    @Option(help: ArgumentHelp("The expected size of one checkpoint in bytes (default: the latest's).", valueName: "n"))
    var expectBytes: Int64?

    @Option(help: ArgumentHelp("How many checkpoints are kept (default 3).", valueName: "n"))
    var keep: Int?

    @OptionGroup var output: OutputOptions
    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        if let expectBytes, expectBytes < 0 { throw ValidationError("--expect-bytes must be 0 or more, not \(expectBytes).") }
        if let keep, keep < 1 || keep > 1_000_000 { throw ValidationError("--keep must be between 1 and 1000000, not \(keep).") }
    }

    func run() throws {
        try References.requireLocal(runDirectory)
        let checks = try Preflight.run(runDirectory, options: .init(full: full, expectBytes: expectBytes, keep: keep))
        let ok = checks.allSatisfy(\.ok)
        if output.json {
            Terminal.writeJSON(["ok": .bool(ok), "checks": .array(checks.map(\.json))])
        } else {
            Terminal.write(Self.text(checks, symbols: isatty(STDOUT_FILENO) == 1))
        }
        if !ok { throw ExitCode(1) }
    }

    /// The checklist: `✓ name  detail` on a terminal, `ok   name  detail` otherwise.
    static func text(_ checks: [Preflight.Check], symbols: Bool) -> String {
        let width = checks.map(\.name.count).max() ?? 0
        var out = ""
        for check in checks {
            let mark = symbols ? (check.ok ? "\u{2713}" : "\u{2717}") : (check.ok ? "ok  " : "FAIL")
            out += "\(mark) \(check.name + String(repeating: " ", count: width - check.name.count))  \(check.detail)\n"
        }
        let failed = checks.filter { !$0.ok }.count
        out += failed == 0 ? "all \(checks.count) checks passed\n" : "\(failed) of \(checks.count) checks failed\n"
        return out
    }
}
