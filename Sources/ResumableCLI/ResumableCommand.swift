import ArgumentParser

/// The `resumable` command line: inspect, verify, compare and maintain runs,
/// and commit checkpoints written by programs in any language.
///
/// To add a subcommand, add its type to `subcommands` below.
@main
struct ResumableCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resumable",
        abstract: "Crash-proof checkpoints for long-running jobs.",
        discussion: """
            A checkpoint reference is RUN (its latest checkpoint), RUN@latest, RUN@best,
            RUN@step-1200, or a checkpoint directory. Exit codes: 0 success, 1 failure
            (diff: the checkpoints differ), 64 usage error, 65 corrupt data, 66 not found,
            73 cannot create, 74 I/O error, 75 run locked or interrupted.
            """,
        version: "0.1.0",
        subcommands: [
            StatusCommand.self,
            LsCommand.self,
            InspectCommand.self,
            VerifyCommand.self,
            DiffCommand.self,
            PruneCommand.self,
            ResetCommand.self,
            EditCommand.self,
            CommitCommand.self,
            RunCommand.self,
            ProgressCommand.self,
            PreflightCommand.self,
            PipelineCommand.self,
            SweepCommand.self,
            CacheCommand.self,
        ]
    )

    static func main() async {
        await CommandRunner.main(ResumableCommand.self)
    }
}
