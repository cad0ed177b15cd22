import DurableFiles

extension ResumableError {
    /// A malformed safetensors file: what is wrong, in which file, what to do.
    static func malformed(_ path: String, _ reason: String, tensor: String? = nil, cause: (any Error)? = nil) -> ResumableError {
        let what = tensor.map { " (tensor \"\($0)\")" } ?? ""
        return ResumableError(
            .corrupt,
            "\(path) is not a valid safetensors file\(what): \(reason). The file is damaged or was not written as safetensors; restore it or resume from another checkpoint.",
            path: path, cause: cause)
    }
}
