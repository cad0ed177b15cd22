/// A generator whose sequence is fixed by its seed (`Xoshiro256StarStar`,
/// `SplitMix64`), with helpers whose algorithms are fixed by this package, so
/// a seeded run draws the same numbers whatever the standard library's
/// version. The helpers are added to these generators only, never to every
/// `RandomNumberGenerator` of a program that imports Resumable.
public protocol SeededRandomNumberGenerator: RandomNumberGenerator {}

extension SeededRandomNumberGenerator {
    /// A uniform integer in `0..<bound` (Lemire's method, unbiased).
    /// It is a programmer error to pass a `bound` of zero or less.
    public mutating func nextInt(below bound: Int) -> Int {
        guard bound > 1 else { return 0 }
        let range = UInt64(bound)
        var product = next().multipliedFullWidth(by: range)
        if product.low < range {
            let threshold = (0 &- range) % range
            while product.low < threshold {
                product = next().multipliedFullWidth(by: range)
            }
        }
        return Int(product.high)
    }

    /// A uniform `Double` in `[0, 1)` with 53 random bits.
    public mutating func nextUnitDouble() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }

    /// A uniform `Float` in `[0, 1)` with 24 random bits.
    public mutating func nextUnitFloat() -> Float {
        Float(next() >> 40) * 0x1.0p-24
    }

    /// A standard normal sample (Box–Muller, one value per call).
    public mutating func nextGaussian() -> Double {
        var u = nextUnitDouble()
        while u <= .leastNormalMagnitude { u = nextUnitDouble() }
        let v = nextUnitDouble()
        return (-2 * _log(u)).squareRoot() * _cos(2 * Double.pi * v)
    }

    /// Shuffles `array` in place (Fisher–Yates, from the end).
    public mutating func shuffle<T>(_ array: inout [T]) {
        var i = array.count - 1
        while i > 0 {
            let j = nextInt(below: i + 1)
            array.swapAt(i, j)
            i -= 1
        }
    }
}

import Glibc
private func _log(_ x: Double) -> Double { Glibc.log(x) }
private func _cos(_ x: Double) -> Double { Glibc.cos(x) }
