import Glibc

/// The C library's description of an error number.
func describeErrno(_ code: Int32) -> String {
    String(cString: strerror(code))
}

extension ResumableError {
    /// An error for a failed system call, with the code chosen from the errno:
    /// a full disk or an I/O error is `.io`, a missing file `.notFound`, a
    /// refused creation `.cannotCreate`.
    package static func system(
        _ operation: String, path: String, errno code: Int32, creating: Bool = false,
        file: String = #fileID, line: Int = #line
    ) -> ResumableError {
        let kind: Code
        var advice = ""
        switch code {
        case ENOENT where !creating: kind = .notFound
        case ENOSPC, EDQUOT:
            kind = .io
            advice = " Free some space (or prune old checkpoints with `resumable prune`) and run again."
        case EACCES, EPERM, EROFS, EEXIST, ENOTDIR, EISDIR, ENOENT:
            kind = creating ? .cannotCreate : .io
            if code == EACCES || code == EPERM || code == EROFS { advice = " Check the permissions of that path." }
        default: kind = .io
        }
        return ResumableError(
            kind, "cannot \(operation) \(path): \(describeErrno(code)).\(advice)", path: path, errno: code,
            file: file, line: line)
    }
}
