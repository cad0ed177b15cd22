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

    @Test("a misspelled command is answered with the nearest one; a negative number is read as a value and refused by name")
    func paperCuts() throws {
        let typo = try TestSupport.resumable("stauts", "run")
        #expect(typo.status == 64)
        #expect(typo.stderr.contains("Did you mean `resumable status`?"), "\(typo.stderr)")
        let far = try TestSupport.resumable("zzzzzz")
        #expect(far.status == 64)
        #expect(!far.stderr.contains("Did you mean") && far.stderr.contains("status, ls"), "\(far.stderr)")
        let negative = try TestSupport.resumable("prune", "run", "--keep-last", "-3")
        #expect(negative.status == 64)
        #expect(negative.stderr.contains("--keep-last must be 1 or more, not -3"), "\(negative.stderr)")
        let digits = try TestSupport.run(TestSupport.executable("digits"), ["--epochs", "-3"])
        #expect(digits.status == 64)
        #expect(digits.stderr.contains("--epochs must be at least 1"), "\(digits.stderr)")
    }

    @Test("ls and status given a checkpoint reference say they take a run")
    func referenceForRun() throws {
        let run = try CLIFixture.makeRun("usage-ref")
        defer { try? FileManager.default.removeItem(atPath: FilePath.parent(of: run)) }
        for arguments in [["ls"], ["status"], ["prune", "--keep-last", "1"]] {
            let outcome = try TestSupport.run(TestSupport.resumable, [arguments[0], run + "@step-100"] + arguments.dropFirst())
            let command = arguments[0]
            #expect(outcome.status == 64, "\(command): \(outcome)")
            #expect(outcome.stderr.contains("takes a run directory") && outcome.stderr.contains("resumable inspect"), "\(outcome.stderr)")
        }
    }

    @Test("--help and help list every command and exit 0")
    func help() throws {
        let outcome = try TestSupport.resumable("--help")
        #expect(outcome.status == 0, "\(outcome)")
        for command in ["status", "ls", "inspect", "verify", "diff", "prune", "reset", "edit", "commit", "run"] {
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
