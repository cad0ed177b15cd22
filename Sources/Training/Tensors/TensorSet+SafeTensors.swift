import DurableFiles
public import SafeTensors

extension TensorSet {
    /// The tensors as sources for `SafeTensorsWriter` (no copy), each name prefixed.
    public func tensorSources(prefix: String = "") -> [TensorSource] {
        zip(names, tensors).map { name, tensor in
            TensorSource(name: prefix + name, dtype: .f32, shape: tensor.shape, values: tensor.values)
        }
    }

    /// Reads the tensors named `prefix + name` for every name of `template`
    /// from `file`, checking dtype and shape.
    /// - Throws: `.corrupt` when a tensor is missing or has another dtype or
    ///   shape than the program declares (the checkpoint is from another model).
    public static func read(like template: TensorSet, prefix: String = "", from file: SafeTensorsShards) throws -> TensorSet {
        var result = TensorSet()
        for name in template.names {
            let key = prefix + name
            let expected = template[name]?.shape ?? []
            guard let info = file.info(key) else {
                throw ResumableError(
                    .corrupt,
                    "\(file.path) has no tensor \"\(key)\", which this program's model declares. The checkpoint was written by another model or version.",
                    path: file.path)
            }
            guard info.dtype == .f32, info.shape == expected else {
                throw ResumableError(
                    .corrupt,
                    "tensor \"\(key)\" in \(file.path) is \(info.dtype.rawValue) \(info.shape), but the program declares F32 \(expected). The checkpoint was written by another model or configuration.",
                    path: file.path)
            }
            result[name] = Tensor(shape: info.shape, values: try file.array(key, as: Float.self))
        }
        return result
    }
}
