import DurableFiles

extension SafeTensorsHeader {
    /// The CRC-32C of every tensor's bytes (the manifest's `tensor_crc32c`),
    /// given the whole file's bytes this header was parsed from.
    public func tensorCRC32C(in fileBytes: UnsafeRawBufferPointer) -> [String: String] {
        var digests: [String: String] = [:]
        for t in tensors {
            let start = dataStart + t.dataOffsets.lowerBound
            digests[t.name] = CRC32C.digest(UnsafeRawBufferPointer(rebasing: fileBytes[start..<(start + t.byteCount)]))
        }
        return digests
    }
}
