import Resumable
import Testing

@Suite("Tensor decoding and differences")
struct TensorDifferenceTests {
    @Test(
        "half precision decodes exactly",
        arguments: [
            (UInt16(0x3C00), Float(1)), (0xC000, -2), (0x0000, 0), (0x7BFF, 65504), (0x0001, Float(5.9604645e-08)),
            (0x3555, Float(0.33325195)), (0x7C00, .infinity),
        ] as [(UInt16, Float)])
    func half(bits: UInt16, value: Float) {
        #expect(DType.halfToFloat(bits) == value)
    }

    @Test("half NaN stays NaN")
    func halfNaN() { #expect(DType.halfToFloat(0x7E00).isNaN) }

    @Test("bfloat16, integers and floats decode to their values")
    func decode() {
        let bf16: [UInt16] = [0x3F80, 0xC040]  // 1.0, -3.0
        bf16.withUnsafeBytes { raw in
            #expect(DType.bf16.elementValue(at: 0, in: raw) == 1)
            #expect(DType.bf16.elementValue(at: 1, in: raw) == -3)
        }
        [Int16(-5), 7].withUnsafeBytes { raw in #expect(DType.i16.elementValue(at: 0, in: raw) == -5) }
        [UInt8(200)].withUnsafeBytes { raw in #expect(DType.u8.elementValue(at: 0, in: raw) == 200) }
        [Int8(-1)].withUnsafeBytes { raw in #expect(DType.i8.elementValue(at: 0, in: raw) == -1) }
        [0.25 as Double].withUnsafeBytes { raw in #expect(DType.f64.elementValue(at: 0, in: raw) == 0.25) }
        [UInt8(1)].withUnsafeBytes { raw in #expect(DType.bool.elementValue(at: 0, in: raw) == nil) }
    }

    @Test("differences: max absolute, NaN against a number is infinite, bytes-only types count elements")
    func compare() {
        let a: [Float] = [1, 2, .nan, 4]
        let b: [Float] = [1, 2.5, .nan, -4]
        a.withUnsafeBytes { ra in
            b.withUnsafeBytes { rb in
                let d = TensorDifference.compare(ra, rb, dtype: .f32)
                #expect(d.maxAbsoluteDifference == 8)
                #expect(d.differingElements == 2)
                #expect(d.elements == 4)
            }
        }
        let c: [Float] = [1, 2, 3, 4]
        a.withUnsafeBytes { ra in
            c.withUnsafeBytes { rc in #expect(TensorDifference.compare(ra, rc, dtype: .f32).maxAbsoluteDifference == .infinity) }
        }
        [UInt8(1), 0, 1].withUnsafeBytes { x in
            [UInt8(1), 1, 1].withUnsafeBytes { y in
                let d = TensorDifference.compare(x, y, dtype: .bool)
                #expect(d.maxAbsoluteDifference == nil)
                #expect(d.differingElements == 1)
            }
        }
    }
}
