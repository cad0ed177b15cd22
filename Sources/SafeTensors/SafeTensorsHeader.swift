import DurableFiles
import JSON

/// A validated safetensors header.
///
/// Validation happens before any tensor byte is used: the header length is at
/// most 100 MB and inside the file; the header is a JSON object of valid UTF-8
/// nested at most a few levels; every tensor has a known dtype, a shape of
/// non-negative dimensions whose byte size does not overflow and equals its
/// offsets' length; offsets are contiguous from 0 and end exactly at the end of
/// the file; names are unique and non-empty; `__metadata__` maps strings to strings.
public struct SafeTensorsHeader: Sendable {
    /// The largest header accepted, as in the reference implementation.
    public static let maxHeaderLength = 100_000_000

    /// Tensors in the order of their data.
    public var tensors: [TensorInfo]
    /// The free string map of the header.
    public var metadata: [String: String]
    /// Where the data section starts in the file (8 + header length).
    public var dataStart: Int

    /// Parses and validates the header of a safetensors file held in `bytes`.
    /// - Parameter path: used in error messages only.
    /// - Throws: `.corrupt` naming the file, the tensor and the reason.
    public static func parse(_ bytes: UnsafeRawBufferPointer, path: String) throws -> SafeTensorsHeader {
        guard let length = try headerLength(prefix: bytes, fileSize: bytes.count, path: path) else {
            throw ResumableError.malformed(path, "it has \(bytes.count) bytes, fewer than the 8-byte header length")
        }
        return try parse(prefix: bytes, headerLength: length, fileSize: bytes.count, path: path)
    }

    /// The header length a file's first 8 bytes record, checked against the
    /// limit and the file's size — how many bytes after the first 8 to read
    /// before ``parse(prefix:headerLength:fileSize:path:)``. `nil` when
    /// `prefix` holds fewer than 8 bytes.
    /// - Throws: `.corrupt` for a length over the limit, too small, or past the end of the file.
    public static func headerLength(prefix: UnsafeRawBufferPointer, fileSize: Int, path: String) throws -> Int? {
        guard prefix.count >= 8, fileSize >= 8 else { return nil }
        var length64: UInt64 = 0
        for i in 0..<8 { length64 |= UInt64(prefix[i]) << (8 * UInt64(i)) }
        guard length64 <= UInt64(maxHeaderLength) else {
            throw ResumableError.malformed(path, "its header length \(length64) is larger than the 100 MB limit")
        }
        let length = Int(length64)
        guard length >= 2 else { throw ResumableError.malformed(path, "its header length \(length) is too small for a JSON object") }
        guard 8 + length <= fileSize else {
            throw ResumableError.malformed(path, "its header length \(length) runs past the end of the file (\(fileSize) bytes)")
        }
        return length
    }

    /// Parses and validates the header of a safetensors file of `fileSize`
    /// bytes from its first bytes (`prefix`, at least `8 + headerLength` of
    /// them), for a file read as a stream rather than mapped whole.
    /// - Throws: `.corrupt` naming the file, the tensor and the reason.
    public static func parse(prefix: UnsafeRawBufferPointer, headerLength length: Int, fileSize: Int, path: String) throws
        -> SafeTensorsHeader
    {
        guard length >= 2, 8 + length <= prefix.count, 8 + length <= fileSize else {
            throw ResumableError.malformed(path, "its header length \(length) runs past the bytes read (\(prefix.count) of \(fileSize))")
        }
        let headerBytes = UnsafeRawBufferPointer(rebasing: prefix[8..<(8 + length)])
        guard headerBytes[0] == UInt8(ascii: "{") else { throw ResumableError.malformed(path, "its header does not start with '{'") }
        let json: JSONValue
        do {
            json = try JSONParser(maxDepth: 4).parse(headerBytes)
        } catch {
            throw ResumableError.malformed(path, "its header is not valid JSON (\(error))", cause: error)
        }
        guard case .object(let entries) = json else { throw ResumableError.malformed(path, "its header is not a JSON object") }
        return try validate(entries: entries, dataLength: fileSize - 8 - length, dataStart: 8 + length, path: path)
    }

    static func validate(entries: [String: JSONValue], dataLength: Int, dataStart: Int, path: String)
        throws -> SafeTensorsHeader
    {
        var metadata: [String: String] = [:]
        var tensors: [TensorInfo] = []
        tensors.reserveCapacity(entries.count)
        for (name, value) in entries {
            if name == "__metadata__" {
                guard case .object(let map) = value else { throw ResumableError.malformed(path, "__metadata__ is not an object") }
                for (k, v) in map {
                    guard case .string(let s) = v else {
                        throw ResumableError.malformed(path, "__metadata__[\"\(k)\"] is \(v.kindName), not a string")
                    }
                    metadata[k] = s
                }
                continue
            }
            tensors.append(try tensorInfo(name: name, value: value, path: path))
        }
        tensors.sort { ($0.dataOffsets.lowerBound, $0.dataOffsets.upperBound) < ($1.dataOffsets.lowerBound, $1.dataOffsets.upperBound) }
        var expected = 0
        for t in tensors {
            guard t.dataOffsets.lowerBound == expected else {
                let problem = t.dataOffsets.lowerBound < expected ? "overlaps the previous tensor" : "leaves a gap before it"
                throw ResumableError.malformed(
                    path, "its data offsets \(t.dataOffsets.lowerBound)..<\(t.dataOffsets.upperBound) \(problem) (expected to start at \(expected))",
                    tensor: t.name)
            }
            expected = t.dataOffsets.upperBound
        }
        guard expected == dataLength else {
            if expected > dataLength {
                throw ResumableError.malformed(path, "its tensors need \(expected) bytes of data but the file holds \(dataLength); it is truncated")
            }
            throw ResumableError.malformed(path, "its tensors cover \(expected) bytes but the file holds \(dataLength) bytes of data")
        }
        return SafeTensorsHeader(tensors: tensors, metadata: metadata, dataStart: dataStart)
    }

    static func tensorInfo(name: String, value: JSONValue, path: String) throws -> TensorInfo {
        guard !name.isEmpty else { throw ResumableError.malformed(path, "a tensor has an empty name") }
        guard !name.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
            throw ResumableError.malformed(path, "a tensor name contains control characters", tensor: name)
        }
        guard case .object(let fields) = value else {
            throw ResumableError.malformed(path, "its entry is \(value.kindName), not an object", tensor: name)
        }
        for key in fields.keys where key != "dtype" && key != "shape" && key != "data_offsets" {
            throw ResumableError.malformed(path, "its entry has the unknown field \"\(key)\"", tensor: name)
        }
        guard let dtypeName = fields["dtype"]?.stringValue else {
            throw ResumableError.malformed(path, "its dtype is missing or not a string", tensor: name)
        }
        guard let dtype = DType(rawValue: dtypeName) else {
            throw ResumableError.malformed(path, "its dtype \"\(dtypeName)\" is not one Resumable knows", tensor: name)
        }
        guard case .array(let dims) = fields["shape"] else {
            throw ResumableError.malformed(path, "its shape is missing or not an array", tensor: name)
        }
        var shape: [Int] = []
        shape.reserveCapacity(dims.count)
        for d in dims {
            guard case .int(let v) = d, v >= 0, v <= Int64(Int.max) else {
                throw ResumableError.malformed(path, "its shape holds \(d.serialized()), not a non-negative integer", tensor: name)
            }
            shape.append(Int(v))
        }
        guard case .array(let offsets) = fields["data_offsets"], offsets.count == 2,
            case .int(let begin) = offsets[0], case .int(let end) = offsets[1]
        else {
            throw ResumableError.malformed(path, "its data_offsets are missing or not two integers", tensor: name)
        }
        guard begin >= 0, end >= begin else {
            throw ResumableError.malformed(path, "its data_offsets [\(begin), \(end)] are not an increasing pair", tensor: name)
        }
        guard let count = elementCount(of: shape), let bytes = dtype.byteCount(elements: count) else {
            throw ResumableError.malformed(path, "its shape \(shape) of \(dtypeName) overflows or does not fill whole bytes", tensor: name)
        }
        guard Int64(bytes) == end - begin else {
            throw ResumableError.malformed(
                path, "its shape \(shape) of \(dtypeName) needs \(bytes) bytes but its data_offsets span \(end - begin)",
                tensor: name)
        }
        return TensorInfo(name: name, dtype: dtype, shape: shape, dataOffsets: Int(begin)..<Int(end))
    }
}
