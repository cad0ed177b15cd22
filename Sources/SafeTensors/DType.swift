/// The element types of the safetensors format, by their names in the header.
public enum DType: String, Sendable, CaseIterable, Codable {
    case f64 = "F64", f32 = "F32", f16 = "F16", bf16 = "BF16"
    case i64 = "I64", i32 = "I32", i16 = "I16", i8 = "I8"
    case u64 = "U64", u32 = "U32", u16 = "U16", u8 = "U8"
    case bool = "BOOL"
    case f8e4m3 = "F8_E4M3", f8e5m2 = "F8_E5M2", f8e8m0 = "F8_E8M0"
    /// The "fnuz" F8 variants (no negative zero, NaN at 0x80), as PyTorch and `safetensors` 0.8 write them.
    case f8e4m3fnuz = "F8_E4M3FNUZ", f8e5m2fnuz = "F8_E5M2FNUZ"
    case c64 = "C64"
    /// Packed sub-byte floats: two 4-bit values per byte; four 6-bit values per three bytes.
    case f4 = "F4", f6e2m3 = "F6_E2M3", f6e3m2 = "F6_E3M2"

    /// Bits per element.
    public var bitWidth: Int {
        switch self {
        case .f64, .i64, .u64, .c64: return 64
        case .f32, .i32, .u32: return 32
        case .f16, .bf16, .i16, .u16: return 16
        case .i8, .u8, .bool, .f8e4m3, .f8e5m2, .f8e8m0, .f8e4m3fnuz, .f8e5m2fnuz: return 8
        case .f6e2m3, .f6e3m2: return 6
        case .f4: return 4
        }
    }

    /// Bytes per element for whole-byte types.
    public var byteWidth: Int { bitWidth / 8 }

    /// The number of bytes `count` elements take, or `nil` on overflow or when
    /// packed sub-byte elements do not fill whole bytes.
    public func byteCount(elements count: Int) -> Int? {
        let (bits, overflow) = count.multipliedReportingOverflow(by: bitWidth)
        guard !overflow, bits % 8 == 0 else { return nil }
        return bits / 8
    }
}

/// The number of elements of a shape, or `nil` on overflow or negative dimensions.
package func elementCount(of shape: [Int]) -> Int? {
    var n = 1
    for d in shape {
        guard d >= 0 else { return nil }
        let (m, overflow) = n.multipliedReportingOverflow(by: d)
        if overflow { return nil }
        n = m
    }
    return n
}
