import DurableFiles

/// A safetensors file opened for reading: memory-mapped, header validated,
/// tensors available without copying.
///
/// Opening reads only the header; a tensor's pages are read from disk when its
/// bytes are first touched. Views stay valid while the file object lives.
public final class SafeTensorsFile: Sendable {
    /// The file's path.
    public let path: String
    /// The validated header.
    public let header: SafeTensorsHeader
    private let mapped: MappedFile
    private let index: [String: Int]

    /// Opens and validates `path`.
    /// - Parameter followingSymlinks: `false` refuses a symbolic link at `path` (`.corrupt`).
    /// - Throws: `.notFound` if the file is missing, `.corrupt` if it is not valid safetensors.
    public init(path: String, followingSymlinks: Bool = true) throws {
        self.path = path
        mapped = try MappedFile(path: path, followingSymlinks: followingSymlinks)
        // Read just the header from a cold file, not a whole read-ahead window.
        mapped.prefetchPrefix(64 << 10)
        if mapped.bytes.count >= 8 {
            let length = mapped.bytes.loadUnaligned(as: UInt64.self).littleEndian
            if length > (64 << 10) - 8, length < UInt64(mapped.bytes.count) { mapped.prefetchPrefix(8 + Int(length)) }
        }
        header = try SafeTensorsHeader.parse(mapped.bytes, path: path)
        var index: [String: Int] = [:]
        index.reserveCapacity(header.tensors.count)
        for (i, t) in header.tensors.enumerated() { index[t.name] = i }
        self.index = index
    }

    /// Tensors in the order of their data.
    public var tensors: [TensorInfo] { header.tensors }

    /// The header's free string map.
    public var metadata: [String: String] { header.metadata }

    /// The names of all tensors, in the order of their data.
    public var names: [String] { header.tensors.map(\.name) }

    /// The entry of the tensor called `name`, or `nil`.
    public func info(_ name: String) -> TensorInfo? { index[name].map { header.tensors[$0] } }

    /// The raw little-endian bytes of a tensor, without copying.
    /// - Throws: `.notFound` if there is no such tensor.
    public func bytes(of name: String) throws -> UnsafeRawBufferPointer {
        guard let info = info(name) else {
            throw ResumableError(.notFound, "\(path) has no tensor named \"\(name)\".", path: path)
        }
        return bytes(of: info)
    }

    /// The raw bytes of a tensor given its entry.
    public func bytes(of info: TensorInfo) -> UnsafeRawBufferPointer {
        let start = header.dataStart + info.dataOffsets.lowerBound
        return UnsafeRawBufferPointer(rebasing: mapped.bytes[start..<(start + info.byteCount)])
    }

    /// A copy of a tensor's elements as an array of `T`.
    /// - Throws: `.usage` when `T`'s size does not match the tensor's dtype.
    public func array<T: BitwiseCopyable>(_ name: String, as type: T.Type = T.self) throws -> [T] {
        guard let info = info(name) else {
            throw ResumableError(.notFound, "\(path) has no tensor named \"\(name)\".", path: path)
        }
        guard info.dtype.bitWidth == MemoryLayout<T>.size * 8 else {
            throw ResumableError(
                .usage, "tensor \"\(name)\" in \(path) is \(info.dtype.rawValue), which does not match \(T.self).",
                path: path)
        }
        let raw = bytes(of: info)
        let count = raw.count / MemoryLayout<T>.stride
        return [T](unsafeUninitializedCapacity: count) { buffer, initialized in
            UnsafeMutableRawBufferPointer(buffer).copyMemory(from: raw)
            initialized = count
        }
    }

    /// The whole mapped file, for checksumming.
    public var fileBytes: UnsafeRawBufferPointer { mapped.bytes }

    /// Asks the kernel to read the file ahead in order.
    public func adviseSequential() { mapped.adviseSequential() }
}
