/// One tensor's entry in a safetensors header.
public struct TensorInfo: Sendable, Hashable {
    /// The tensor's name.
    public var name: String
    /// Its element type.
    public var dtype: DType
    /// Its dimensions, outermost first; `[]` for a scalar.
    public var shape: [Int]
    /// Byte range inside the data section (after the header).
    public var dataOffsets: Range<Int>

    public init(name: String, dtype: DType, shape: [Int], dataOffsets: Range<Int>) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.dataOffsets = dataOffsets
    }

    /// The number of bytes of the tensor's data.
    public var byteCount: Int { dataOffsets.count }

    /// The number of elements.
    public var elementCount: Int { SafeTensors.elementCount(of: shape) ?? 0 }
}
