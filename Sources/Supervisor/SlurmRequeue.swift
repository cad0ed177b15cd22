import Glibc
import DurableFiles
import Logging

/// Asks Slurm to run the current job again: `scontrol requeue JOB`.
enum SlurmRequeue {
    /// Runs `scontrol requeue job` (found in `PATH`) and waits up to a minute.
    /// - Returns: scontrol's exit code, or `nil` when it could not run or did not end in time.
    static func requeue(job: String, environment: [String: String], logger: Logger) -> Int32? {
        let command = ["scontrol", "requeue", job]
        logger.info("Requeueing Slurm job \(job): \(command.joined(separator: " "))")
        let child: ChildProcess
        do {
            child = try ChildProcess.spawn(command, environment: environment)
        } catch {
            logger.error("Could not run scontrol to requeue job \(job): \(error)")
            return nil
        }
        for _ in 0..<1200 {
            let ended: ChildTermination?
            do {
                ended = try child.poll()
            } catch {
                logger.error("Could not wait for scontrol: \(error)")
                return nil
            }
            switch ended {
            case .exited(let code)?:
                if code != 0 { logger.error("`scontrol requeue \(job)` failed with exit code \(code).") }
                return code
            case .signaled(let s)?:
                logger.error("`scontrol requeue \(job)` was killed by \(SignalName.name(of: s)).")
                return nil
            case nil:
                usleep(50_000)
            }
        }
        child.signalGroup(SIGKILL)
        logger.error("`scontrol requeue \(job)` did not finish within a minute; it was killed.")
        return nil
    }
}
