import DurableFiles
import SafeTensors

/// What verification found wrong with one file.
public struct FileProblem: Sendable, CustomStringConvertible {
    /// The file's name in the checkpoint.
    public var file: String
    /// The damaged tensors, where the file is safetensors and they can be told.
    public var tensors: [String]
    /// What is wrong.
    public var reason: String

    /// A problem with one file of a checkpoint.
    public init(file: String, tensors: [String] = [], reason: String) {
        self.file = file
        self.tensors = tensors
        self.reason = reason
    }

    /// A file whose size is not the one recorded in the manifest.
    public static func sizeMismatch(file: String, size: Int64, recorded: Int64) -> FileProblem {
        FileProblem(
            file: file, reason: "it has \(size) bytes but the manifest records \(recorded)\(size < recorded ? " (truncated)" : "")")
    }

    public var description: String {
        tensors.isEmpty ? "\(file): \(reason)" : "\(file): \(reason) (tensor\(tensors.count > 1 ? "s" : "") \(tensors.joined(separator: ", ")))"
    }
}

/// The result of checking a checkpoint's files against its manifest.
public struct VerificationReport: Sendable {
    public var step: Int64
    public var directory: String
    public var problems: [FileProblem]
    /// Bytes read and hashed.
    public var bytesChecked: Int64

    /// A report, for callers that check more than files (a damaged manifest, say).
    public init(step: Int64, directory: String, problems: [FileProblem], bytesChecked: Int64) {
        self.step = step
        self.directory = directory
        self.problems = problems
        self.bytesChecked = bytesChecked
    }

    public var isIntact: Bool { problems.isEmpty }

    /// One line naming every problem.
    public var summary: String { problems.map(\.description).joined(separator: "; ") }
}

extension CheckpointStore {
    /// Recomputes the SHA-256 of every file of `checkpoint` and compares it
    /// with the manifest. Missing files, wrong sizes and wrong digests are
    /// problems; for a damaged safetensors file the damaged tensors are named.
    public func verify(_ checkpoint: Checkpoint) throws -> VerificationReport {
        try Self.verify(checkpoint)
    }

    /// Verifies a checkpoint directory, without a store.
    public static func verify(_ checkpoint: Checkpoint) throws -> VerificationReport {
        var problems: [FileProblem] = []
        var checked: Int64 = 0
        for record in checkpoint.manifest.files {
            let path = checkpoint.path(of: record.name)
            guard FileSystem.exists(path) else {
                problems.append(FileProblem(file: record.name, tensors: [], reason: "the file is missing"))
                continue
            }
            let mapped: MappedFile
            do {
                mapped = try MappedFile(path: path)
            } catch let error as ResumableError {
                problems.append(FileProblem(file: record.name, tensors: [], reason: error.message))
                continue
            }
            let size = Int64(mapped.bytes.count)
            if size != record.bytes {
                problems.append(.sizeMismatch(file: record.name, size: size, recorded: record.bytes))
                continue
            }
            mapped.adviseSequential()
            checked += size
            let digest = Checksum.sha256(mapped.bytes)
            if digest != record.sha256 {
                problems.append(
                    FileProblem(
                        file: record.name, tensors: damagedTensors(in: mapped.bytes, path: path, record: record),
                        reason: "its SHA-256 is \(digest.prefix(12))…, the manifest records \(record.sha256.prefix(12))…"))
            }
        }
        return VerificationReport(step: checkpoint.step, directory: checkpoint.directory, problems: problems, bytesChecked: checked)
    }

    /// The tensors whose bytes no longer match their recorded digest, or the
    /// header when that is what broke.
    static func damagedTensors(in bytes: UnsafeRawBufferPointer, path: String, record: FileRecord) -> [String] {
        guard let digests = record.tensorCRC32C else { return [] }
        guard let header = try? SafeTensorsHeader.parse(bytes, path: path) else { return ["(header)"] }
        let actual = header.tensorCRC32C(in: bytes)
        let damaged = header.tensors.map(\.name).filter { digests[$0] != actual[$0] }
        return damaged.isEmpty ? ["(header)"] : damaged
    }
}
