public import JSON
import DurableFiles

/// A pipeline's shape as the ledger keeps it (`"pipeline"` in `stages.json`):
/// its name, the file it was read from, and its stages in dependency order
/// with what each needs. Enough to show a run's stages without the file.
public struct PipelineOutline: Sendable, Hashable {
    /// One stage: its name, what it needs, whether it is optional.
    public struct Stage: Sendable, Hashable {
        public var name: String
        public var needs: [String]
        public var optional: Bool

        public init(name: String, needs: [String], optional: Bool) {
            self.name = name
            self.needs = needs
            self.optional = optional
        }
    }

    /// The pipeline's name.
    public var name: String
    /// The pipeline file's path (absolute when it was known).
    public var file: String
    /// The stages in dependency order.
    public var stages: [Stage]

    public init(name: String, file: String, stages: [Stage]) {
        self.name = name
        self.file = file
        self.stages = stages
    }

    /// The outline of `spec`, with `file` made absolute against the current directory.
    public init(_ spec: PipelineSpec) {
        name = spec.name
        file = FilePath.absolute(spec.file)
        stages = spec.stages.map { Stage(name: $0.name, needs: $0.needs, optional: $0.optional) }
    }

    /// The outline as the ledger stores it.
    public var json: JSONValue {
        .object([
            "name": .string(name), "file": .string(file),
            "stages": .array(stages.map { .object(["name": .string($0.name), "needs": .array($0.needs.map { .string($0) }), "optional": .bool($0.optional)]) }),
        ])
    }

    /// Reads an outline; `nil` when a field is missing or has the wrong type,
    /// a stage is named twice or needs a stage that is not before it.
    public init?(json: JSONValue) {
        guard let name = json["name"]?.stringValue, let file = json["file"]?.stringValue, let list = json["stages"]?.arrayValue,
            list.count <= 1000
        else { return nil }
        var seen: Set<String> = []
        var stages: [Stage] = []
        for entry in list {
            guard let n = entry["name"]?.stringValue, !seen.contains(n), let needsValue = entry["needs"]?.arrayValue else { return nil }
            let needs = needsValue.compactMap(\.stringValue)
            guard needs.count == needsValue.count, needs.allSatisfy(seen.contains) else { return nil }
            let optional: Bool
            switch entry["optional"] {
            case .bool(let b)?: optional = b
            case nil: optional = false
            default: return nil
            }
            seen.insert(n)
            stages.append(Stage(name: n, needs: needs, optional: optional))
        }
        self.init(name: name, file: file, stages: stages)
    }
}
