import DurableFiles
import JSON

/// A tensor to be written: its entry and a way to reach its bytes without copying.
///
/// Writes call `withBytes` on other threads (the shards of a save are
/// written in parallel, a snapshot is copied on every core, and a
/// background save writes on a thread of its own), sometimes
/// on several threads at once: it must be `@Sendable`, and only read.
public struct TensorSource: Sendable {
    /// The tensor's name.
    public var name: String
    /// Its element type.
    public var dtype: DType
    /// Its dimensions.
    public var shape: [Int]
    /// Calls the closure with the tensor's little-endian bytes; may be
    /// called from any thread, and from several at once.
    public var withBytes: @Sendable (_ body: (UnsafeRawBufferPointer) throws -> Void) throws -> Void

    /// A tensor whose bytes are produced by `withBytes`, which may be called
    /// from any thread, and from several at once.
    public init(
        name: String, dtype: DType, shape: [Int],
        withBytes: @escaping @Sendable (_ body: (UnsafeRawBufferPointer) throws -> Void) throws -> Void
    ) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.withBytes = withBytes
    }

    /// A tensor of `Float`, `Double`, integers and the like, read from an array (no copy is made).
    public init<T: BitwiseCopyable & Sendable>(name: String, dtype: DType, shape: [Int], values: [T]) {
        self.init(name: name, dtype: dtype, shape: shape) { (body) throws in
            try values.withUnsafeBytes { (raw: UnsafeRawBufferPointer) throws in try body(raw) }
        }
    }

    /// A tensor over raw bytes that stay valid, and unchanged, until the write returns.
    public init(name: String, dtype: DType, shape: [Int], bytes: UnsafeRawBufferPointer) {
        // The pointer is only read, and the caller keeps the bytes valid and
        // unchanged until the write returns: any thread may read them meanwhile.
        nonisolated(unsafe) let bytes = bytes
        self.init(name: name, dtype: dtype, shape: shape) { (body) throws in try body(bytes) }
    }

    /// The number of bytes the shape and dtype call for, or `nil` on overflow.
    public var expectedByteCount: Int? {
        elementCount(of: shape).flatMap { dtype.byteCount(elements: $0) }
    }
}

/// Writes safetensors files as a stream: the header first, then each tensor's
/// bytes straight from the caller's memory, hashed on the way.
///
/// Peak memory stays at the header plus one I/O chunk, whatever the payload
/// size. The file is fsynced before `write` returns.
public enum SafeTensorsWriter {
    /// The header bytes (length prefix, JSON, space padding to a multiple of 8)
    /// for `tensors` laid out in the given order.
    /// - Throws: `.usage` for duplicate or empty names and shapes that overflow.
    public static func header(for tensors: [TensorSource], metadata: [String: String]) throws -> [UInt8] {
        var entries: [String: JSONValue] = [:]
        var offset = 0
        for t in tensors {
            guard !t.name.isEmpty, t.name != "__metadata__" else {
                throw ResumableError(.usage, "a tensor name may not be empty or \"__metadata__\".")
            }
            guard let count = t.expectedByteCount, !offset.addingReportingOverflow(count).overflow else {
                throw ResumableError(.usage, "tensor \"\(t.name)\": shape \(t.shape) of \(t.dtype.rawValue) overflows or does not fill whole bytes.")
            }
            let entry: JSONValue = .object([
                "dtype": .string(t.dtype.rawValue),
                "shape": .array(t.shape.map { .int(Int64($0)) }),
                "data_offsets": .array([.int(Int64(offset)), .int(Int64(offset + count))]),
            ])
            if entries.updateValue(entry, forKey: t.name) != nil {
                throw ResumableError(.usage, "two tensors are named \"\(t.name)\"; names must be unique.")
            }
            offset += count
        }
        if !metadata.isEmpty {
            entries["__metadata__"] = .object(metadata.mapValues { .string($0) })
        }
        var json = Array(JSONValue.object(entries).serialized().utf8)
        while (8 + json.count) % 8 != 0 { json.append(0x20) }
        var out = [UInt8]()
        out.reserveCapacity(8 + json.count)
        var n = UInt64(json.count)
        for _ in 0..<8 {
            out.append(UInt8(n & 0xFF))
            n >>= 8
        }
        out.append(contentsOf: json)
        return out
    }

    /// What a write produced: the file's size and SHA-256, and each tensor's CRC-32C.
    public struct Written: Sendable {
        public var bytes: Int64
        public var sha256: String
        public var tensorCRC32C: [String: String]
    }

    /// Writes `tensors` to a new file at `path` and makes it durable. When it
    /// throws, no file is left at `path`.
    /// - Parameter checksums: `false` skips hashing (digests are then empty);
    ///   only for measuring what checksums cost.
    /// - Returns: the file's size and SHA-256, and each tensor's CRC-32C.
    /// - Throws: `.usage` for a tensor whose bytes do not match its shape;
    ///   `.io`/`.cannotCreate` when the file cannot be written.
    @discardableResult
    public static func write(
        _ tensors: [TensorSource], metadata: [String: String] = [:], to path: String, checksums: Bool = true
    ) throws -> Written {
        let writer = ChecksummingWriter(file: try DurableFile.create(path), hashing: checksums)
        return try write(tensors, metadata: metadata, with: writer)
    }

    /// Streams the file through `writer` and finishes it; on failure removes it.
    static func write(_ tensors: [TensorSource], metadata: [String: String], with writer: ChecksummingWriter) throws -> Written {
        let path = writer.file.path
        do {
            let headerBytes = try header(for: tensors, metadata: metadata)
            try writer.write(headerBytes)
            var digests: [String: String] = [:]
            for t in tensors {
                writer.beginSegment()
                let expected = t.expectedByteCount ?? -1
                try t.withBytes { (raw) throws in
                    guard raw.count == expected else {
                        throw ResumableError(
                            .usage, "tensor \"\(t.name)\" has \(raw.count) bytes but shape \(t.shape) of \(t.dtype.rawValue) needs \(expected).")
                    }
                    try writer.write(raw)
                }
                digests[t.name] = writer.endSegment()
            }
            let (bytes, sha256) = try writer.finish()
            return Written(bytes: bytes, sha256: sha256, tensorCRC32C: digests)
        } catch {
            // No partial file is left behind under the name the caller asked for.
            writer.abandon()
            try? FileSystem.removeTree(path)
            throw error
        }
    }
}

extension SafeTensorsWriter {
    /// One file of a multi-file write: where it goes and what it holds.
    public struct FileSpec: Sendable {
        public var path: String
        public var tensors: [TensorSource]
        public var metadata: [String: String]

        public init(path: String, tensors: [TensorSource], metadata: [String: String] = [:]) {
            self.path = path
            self.tensors = tensors
            self.metadata = metadata
        }
    }

    /// Writes several safetensors files (the shards of one tensor set) at
    /// once, each on its own thread, their SHA-256 computed on every core
    /// (two files per core where the processor allows,
    /// `ChecksummingWriter.writers(for:)`); each file is made durable. When it
    /// throws, none of them is left.
    /// - Returns: what each write produced, in the order of `files`.
    public static func write(files: [FileSpec], checksums: Bool = true) throws -> [Written] {
        var created: [DurableFile] = []
        do {
            for f in files { created.append(try DurableFile.create(f.path)) }
            let writers = ChecksummingWriter.writers(for: created, hashing: checksums)
            return try Parallel.map(Array(zip(files, writers))) { spec, writer in
                try write(spec.tensors, metadata: spec.metadata, with: writer)
            }.map { try $0.get() }
        } catch {
            for file in created {
                try? file.close()
                try? FileSystem.removeTree(file.path)
            }
            throw error
        }
    }
}
