extension DType {
    /// Whether `elementValue(at:in:)` decodes this type (the floats and integers
    /// of whole bytes; not BOOL, the F8, F6, F4 and complex types).
    public var isDecodable: Bool {
        switch self {
        case .f64, .f32, .f16, .bf16, .i64, .i32, .i16, .i8, .u64, .u32, .u16, .u8: return true
        default: return false
        }
    }

    /// The element at `index` of little-endian `bytes` of this type, as a
    /// `Double`, or `nil` for a type that is not decodable.
    ///
    /// It is a programmer error to pass an index outside the buffer.
    @inline(__always)
    public func elementValue(at index: Int, in bytes: UnsafeRawBufferPointer) -> Double? {
        switch self {
        case .f64: return Double(bitPattern: UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self)))
        case .f32: return Double(Float(bitPattern: UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: index * 4, as: UInt32.self))))
        case .f16: return Double(Self.halfToFloat(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: index * 2, as: UInt16.self))))
        case .bf16:
            let bits = UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: index * 2, as: UInt16.self))
            return Double(Float(bitPattern: UInt32(bits) << 16))
        case .i64: return Double(Int64(littleEndian: bytes.loadUnaligned(fromByteOffset: index * 8, as: Int64.self)))
        case .i32: return Double(Int32(littleEndian: bytes.loadUnaligned(fromByteOffset: index * 4, as: Int32.self)))
        case .i16: return Double(Int16(littleEndian: bytes.loadUnaligned(fromByteOffset: index * 2, as: Int16.self)))
        case .i8: return Double(Int8(bitPattern: bytes[index]))
        case .u64: return Double(UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self)))
        case .u32: return Double(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: index * 4, as: UInt32.self)))
        case .u16: return Double(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: index * 2, as: UInt16.self)))
        case .u8: return Double(bytes[index])
        default: return nil
        }
    }

    /// IEEE 754 half precision bits to a `Float` (subnormals, infinities and NaN included).
    public static func halfToFloat(_ h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16
        let exponent = UInt32(h >> 10) & 0x1F
        var mantissa = UInt32(h & 0x03FF)
        if exponent == 0 {
            if mantissa == 0 { return Float(bitPattern: sign) }
            // Subnormal: normalise.
            var e: UInt32 = 127 - 15 + 1
            while mantissa & 0x0400 == 0 {
                mantissa <<= 1
                e -= 1
            }
            mantissa &= 0x03FF
            return Float(bitPattern: sign | (e << 23) | (mantissa << 13))
        }
        if exponent == 0x1F { return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13)) }
        return Float(bitPattern: sign | ((exponent + 127 - 15) << 23) | (mantissa << 13))
    }
}
