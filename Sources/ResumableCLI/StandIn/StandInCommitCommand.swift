// TEMPORARY: `resumable commit` until the command line of issue 2 lands, so the
// Python example can be tested. Removed when branch `cli` is merged.
import ArgumentParser
import Resumable

struct StandInCommitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "commit", abstract: "Commit a directory of files as a checkpoint.")

    @Argument var runDirectory: String
    @Option var step: Int64
    @Option var epoch: Int64 = 0
    @Option var metric: [String] = []
    @Flag var move = false
    @Argument var source: String

    func run() throws {
        do {
            let store = try CheckpointStore(directory: runDirectory, access: .write, create: true)
            let checkpoint = try store.commitDirectory(source, step: step, move: move) { draft in
                draft.epoch = epoch
                for m in metric {
                    let parts = m.split(separator: "=", maxSplits: 1)
                    guard parts.count == 2, let value = Double(parts[1]) else {
                        throw ResumableError(.usage, "--metric takes NAME=NUMBER, not \(m).")
                    }
                    draft.metrics[String(parts[0])] = value
                }
            }
            print(checkpoint.directory)
        } catch let error as ResumableError {
            printError("resumable commit: \(error.message)")
            throw ExitCode(error.exitCode)
        }
    }
}
