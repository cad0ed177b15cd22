import Foundation
import Resumable
import Testing

@Suite("resumable usage, logging and exit codes")
struct CLIUsageTests {
    @Test(
        "usage errors exit 64",
        arguments: [
            ["ls"], ["ls", "a", "b"], ["frobnicate"], ["ls", "run", "--no-such-option"], ["status", "run", "--verbose", "--quiet"],
            ["verify", "run", "--mode", "min"], ["prune", "run", "--keep-last", "0"], ["diff", "a"],
        ])
    func usage(arguments: [String]) throws {
        let outcome = try TestSupport.run(TestSupport.resumable, arguments)
        #expect(outcome.status == 64, "\(arguments): \(outcome)")
        #expect(!outcome.stderr.isEmpty)
        #expect(outcome.stdout.isEmpty)
    }

    @Test("--help and help list every command and exit 0")
    func help() throws {
        let outcome = try TestSupport.resumable("--help")
        #expect(outcome.status == 0, "\(outcome)")
        for command in ["status", "ls", "inspect", "verify", "diff", "prune", "edit", "commit"] {
            #expect(outcome.stdout.contains("  \(command) "), "missing \(command)")
        }
        let sub = try TestSupport.resumable("help", "commit")
        #expect(sub.status == 0)
        #expect(sub.stdout.contains("--keep-last"))
    }

    @Test("library debug messages reach stderr with --verbose or RESUMABLE_LOG_LEVEL; stdout holds data only")
    func logging() throws {
        let run = TestSupport.temporaryDirectory("usage-log") + "/run"
        let source = try CLIFixture.sourceDirectory()
        let verbose = try TestSupport.resumable("commit", run, "--step", "1", source, "--verbose")
        #expect(verbose.status == 0, "\(verbose)")
        #expect(verbose.stderr.contains("resumable: debug: Committed"), "\(verbose.stderr)")
        #expect(verbose.stdout == CLIFixture.checkpoint(run, 1) + "\n")
        let env = try TestSupport.resumable("commit", run, "--step", "2", source, environment: ["RESUMABLE_LOG_LEVEL": "debug"])
        #expect(env.stderr.contains("resumable: debug: Committed"))
        let quiet = try TestSupport.resumable("commit", run, "--step", "3", source, environment: ["RESUMABLE_LOG_LEVEL": "warning"])
        #expect(quiet.stderr.isEmpty, "\(quiet.stderr)")
    }
}
