#if canImport(Glibc)
import Glibc
#endif
import DurableFiles

extension CheckpointStore {
    /// A cheap integrity check of `checkpoint`: every file the manifest lists
    /// exists with the recorded size. No byte is read, so it finds missing
    /// and truncated files, not flipped bytes (use `verify(_:)` for those).
    /// - Returns: the problems found, empty when the files look whole.
    /// - Complexity: one `stat` per file.
    public static func quickCheck(_ checkpoint: Checkpoint) -> [FileProblem] {
        var problems: [FileProblem] = []
        for record in checkpoint.manifest.files {
            var st = stat()
            guard stat(checkpoint.path(of: record.name), &st) == 0 else {
                problems.append(FileProblem(file: record.name, tensors: [], reason: "the file is missing"))
                continue
            }
            let size = Int64(st.st_size)
            if size != record.bytes {
                problems.append(.sizeMismatch(file: record.name, size: size, recorded: record.bytes))
            }
        }
        return problems
    }
}
