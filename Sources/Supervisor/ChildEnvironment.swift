public import CheckpointStore
import DurableFiles

/// The environment of the design's "`resumable run` contract", built for one attempt.
public enum ChildEnvironment {
    /// The variables a supervised child gets on top of `base`:
    /// `RESUMABLE_RUN_DIR`, `RESUMABLE_RUN_ID`, `RESUMABLE_ATTEMPT` (1-based),
    /// `RESUMABLE_RESUME_FROM` (absolute) and `RESUMABLE_RESUME_STEP` (empty on a fresh start),
    /// `RESUMABLE_LOCK_TOKEN` (lends the run's lock to the child's `resumable commit`);
    /// and, unless `base` sets them, `WANDB_RUN_ID` (the run's W&B id, else its id),
    /// `WANDB_RESUME=allow`, and `MLFLOW_RUN_ID` when `run.json` knows the MLflow run.
    /// - Parameters:
    ///   - base: the environment to extend (the supervisor's own).
    ///   - run: the run's identity.
    ///   - runDirectory: the run directory, absolute.
    ///   - attempt: the attempt number, 1-based.
    ///   - resumeFrom: the checkpoint to resume from, `nil` on a fresh start.
    ///   - lockToken: the token of the lock the supervisor holds.
    public static func make(
        base: [String: String], run: RunInfo, runDirectory: String, attempt: Int, resumeFrom: Checkpoint?,
        lockToken: String?
    ) -> [String: String] {
        var env = base
        env["RESUMABLE_RUN_DIR"] = runDirectory
        env["RESUMABLE_RUN_ID"] = run.id
        env["RESUMABLE_ATTEMPT"] = String(attempt)
        // Absolute, like the run directory (a relative --run-dir resolves checkpoints relatively).
        env["RESUMABLE_RESUME_FROM"] = resumeFrom.map { FilePath.join(FilePath.join(runDirectory, "checkpoints"), Checkpoint.directoryName(step: $0.step)) } ?? ""
        env["RESUMABLE_RESUME_STEP"] = resumeFrom.map { String($0.step) } ?? ""
        if let lockToken { env["RESUMABLE_LOCK_TOKEN"] = lockToken } else { env.removeValue(forKey: "RESUMABLE_LOCK_TOKEN") }
        setUnlessPresent(&env, "WANDB_RUN_ID", run.trackers["wandb"] ?? run.id)
        setUnlessPresent(&env, "WANDB_RESUME", "allow")
        if let mlflow = run.trackers["mlflow"], !mlflow.isEmpty {
            setUnlessPresent(&env, "MLFLOW_RUN_ID", mlflow)
        }
        return env
    }

    private static func setUnlessPresent(_ env: inout [String: String], _ key: String, _ value: String) {
        if env[key]?.isEmpty ?? true { env[key] = value }
    }
}
