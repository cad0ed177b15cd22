/// How two tensors of the same dtype and shape differ.
public struct TensorDifference: Sendable, Hashable {
    /// The largest absolute difference of two elements, for decodable types;
    /// `.infinity` when one side is NaN and the other is not, or values are infinite and differ.
    public var maxAbsoluteDifference: Double?
    /// How many elements differ (bitwise, so `-0.0` and `0.0` differ, two NaNs of the same bits do not).
    public var differingElements: Int
    /// The number of elements compared.
    public var elements: Int

    /// Whether the bytes are identical.
    public var isIdentical: Bool { differingElements == 0 }

    /// Compares the bytes of two tensors of `dtype` holding the same number of
    /// elements. Identical byte ranges are recognised with one `memcmp`-speed pass.
    public static func compare(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer, dtype: DType) -> TensorDifference {
        let width = max(1, dtype.bitWidth / 8)
        let count = min(a.count, b.count)
        if a.count == b.count && a.elementsEqual(b) {
            return TensorDifference(maxAbsoluteDifference: dtype.isDecodable ? 0 : nil, differingElements: 0, elements: count / width)
        }
        guard dtype.isDecodable, dtype.bitWidth % 8 == 0 else {
            // Bytes only: count differing bytes groups of the element width.
            var differing = 0
            var i = 0
            while i < count {
                let end = min(i + width, count)
                if !a[i..<end].elementsEqual(b[i..<end]) { differing += 1 }
                i = end
            }
            return TensorDifference(maxAbsoluteDifference: nil, differingElements: differing, elements: count / width)
        }
        let elements = count / width
        var maxDiff = 0.0
        var differing = 0
        for i in 0..<elements {
            let o = i * width
            if a[o..<(o + width)].elementsEqual(b[o..<(o + width)]) { continue }
            differing += 1
            guard let x = dtype.elementValue(at: i, in: a), let y = dtype.elementValue(at: i, in: b) else { continue }
            let d: Double
            if x.isNaN && y.isNaN {
                d = 0
            } else if x.isNaN || y.isNaN {
                d = .infinity
            } else if x == y {
                d = 0
            } else {
                d = abs(x - y)
            }
            if d > maxDiff || d.isNaN { maxDiff = d.isNaN ? .infinity : d }
        }
        return TensorDifference(maxAbsoluteDifference: maxDiff, differingElements: differing, elements: elements)
    }
}
