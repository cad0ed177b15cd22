/// A seedable pseudo-random generator whose whole state is four words, so it
/// can be saved in a checkpoint and restored exactly: xoshiro256** by
/// Blackman and Vigna, seeded through SplitMix64.
///
/// The sequence depends only on the seed (or the restored state), never on the
/// Swift standard library's version: the helpers below (`nextInt(below:)`,
/// `nextUnitFloat()`, `shuffle(_:)`) are implemented here rather than taken
/// from the standard library, whose algorithms may change between releases.
public struct Xoshiro256StarStar: SeededRandomNumberGenerator, Sendable, Hashable, Codable {
    /// The generator's state.
    public private(set) var state: (UInt64, UInt64, UInt64, UInt64)

    /// A generator seeded from `seed` (expanded with SplitMix64, so nearby
    /// seeds give unrelated sequences).
    public init(seed: UInt64) {
        var mixer = SplitMix64(seed: seed)
        state = (mixer.next(), mixer.next(), mixer.next(), mixer.next())
        if state == (0, 0, 0, 0) { state.0 = 1 }
    }

    /// A generator with exactly this state (as saved by `state`).
    /// It is a programmer error to pass the all-zero state; it is replaced by a valid one.
    public init(state: (UInt64, UInt64, UInt64, UInt64)) {
        self.state = state == (0, 0, 0, 0) ? (1, 0, 0, 0) : state
    }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        let result = rotateLeft(state.1 &* 5, 7) &* 9
        let t = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= t
        state.3 = rotateLeft(state.3, 45)
        return result
    }

    private func rotateLeft(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    public static func == (a: Self, b: Self) -> Bool { a.state == b.state }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(state.0)
        hasher.combine(state.1)
        hasher.combine(state.2)
        hasher.combine(state.3)
    }
}

extension Xoshiro256StarStar {
    private enum CodingKeys: String, CodingKey { case state }

    /// Decodes the state from four 16-digit hex strings (exact in any JSON reader).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let words = try container.decode([String].self, forKey: .state)
        let values = words.compactMap { UInt64($0, radix: 16) }
        guard values.count == 4 else {
            throw DecodingError.dataCorruptedError(
                forKey: .state, in: container, debugDescription: "a generator state is four hexadecimal 64-bit words")
        }
        self.init(state: (values[0], values[1], values[2], values[3]))
    }

    /// Encodes the state as four 16-digit hex strings.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        let words = [state.0, state.1, state.2, state.3].map { word -> String in
            let hex = String(word, radix: 16)
            return String(repeating: "0", count: 16 - hex.count) + hex
        }
        try container.encode(words, forKey: .state)
    }
}

/// SplitMix64, used to expand a seed into a full generator state. It is a
/// valid (if small-state) generator on its own.
public struct SplitMix64: SeededRandomNumberGenerator, Sendable, Hashable, Codable {
    /// The generator's state.
    public var state: UInt64

    /// A generator starting at `seed`.
    public init(seed: UInt64) { state = seed }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
