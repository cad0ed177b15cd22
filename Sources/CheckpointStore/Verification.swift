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

    /// Verifies a checkpoint directory, without a store. Files are checked in
    /// parallel, one per core (the shards of a large tensor set hash at once).
    public static func verify(_ checkpoint: Checkpoint) throws -> VerificationReport {
        let outcomes = Parallel.map(checkpoint.manifest.files) { record in verify(record, of: checkpoint) }
        var problems: [FileProblem] = []
        var checked: Int64 = 0
        for case .success(let (problem, bytes)) in outcomes {
            if let problem { problems.append(problem) }
            checked += bytes
        }
        return VerificationReport(step: checkpoint.step, directory: checkpoint.directory, problems: problems, bytesChecked: checked)
    }

    /// Checks one file: its problem, if any, and the bytes hashed.
    private static func verify(_ record: FileRecord, of checkpoint: Checkpoint) -> (FileProblem?, Int64) {
        let path = checkpoint.path(of: record.name)
        guard FileSystem.exists(path) else {
            return (FileProblem(file: record.name, tensors: [], reason: "the file is missing"), 0)
        }
        let mapped: MappedFile
        do {
            mapped = try MappedFile(path: path, followingSymlinks: false)
        } catch let error as ResumableError {
            return (FileProblem(file: record.name, tensors: [], reason: error.message), 0)
        } catch {
            return (FileProblem(file: record.name, tensors: [], reason: "\(error)"), 0)
        }
        let size = Int64(mapped.bytes.count)
        if size != record.bytes {
            return (.sizeMismatch(file: record.name, size: size, recorded: record.bytes), 0)
        }
        mapped.adviseSequential()
        let digest = Checksum.sha256(mapped.bytes)
        guard digest == record.sha256 else {
            return (
                FileProblem(
                    file: record.name, tensors: damagedTensors(in: mapped.bytes, path: path, record: record),
                    reason: "its SHA-256 is \(digest.prefix(12))…, the manifest records \(record.sha256.prefix(12))…"),
                size
            )
        }
        return (nil, size)
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
