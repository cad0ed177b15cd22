public import CheckpointStore

/// How a training run starts: from its latest checkpoint, from a named one,
/// or afresh.
public enum ResumeMode: Sendable, Hashable, CustomStringConvertible {
    /// The latest good checkpoint if there is one, else a fresh start.
    case auto
    /// The latest good checkpoint; fails (exit 66) when there is none.
    case must
    /// A fresh start; refuses a run that has checkpoints unless overwriting is allowed.
    case never
    /// Exactly this checkpoint (of this run, or of another run to fork from).
    case from(CheckpointReference)

    /// Parses `auto`, `must`, `never` or a checkpoint reference (`RUN@step-N`, `RUN@best`, a directory).
    /// - Throws: `.usage` for a malformed reference.
    public init(parsing text: String) throws {
        switch text {
        case "auto": self = .auto
        case "must": self = .must
        case "never": self = .never
        default: self = .from(try CheckpointReference(parsing: text))
        }
    }

    public var description: String {
        switch self {
        case .auto: return "auto"
        case .must: return "must"
        case .never: return "never"
        case .from(let reference): return reference.description
        }
    }
}
