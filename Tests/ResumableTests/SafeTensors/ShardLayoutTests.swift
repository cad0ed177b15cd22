import Resumable
import Testing

@Suite("Sharding: the split, the policy, the names")
struct ShardLayoutTests {
    /// The bytes of each group of a split.
    static func loads(_ sizes: [Int], _ ranges: [Range<Int>]) -> [Int] {
        ranges.map { sizes[$0].reduce(0, +) }
    }

    /// The smallest possible largest group of `sizes` in `count` contiguous non-empty groups (brute force).
    static func bestMaximum(_ sizes: [Int], _ count: Int) -> Int {
        if count == 1 { return sizes.reduce(0, +) }
        var best = Int.max
        for cut in 1...(sizes.count - count + 1) {
            let first = sizes[..<cut].reduce(0, +)
            best = min(best, max(first, bestMaximum(Array(sizes[cut...]), count - 1)))
        }
        return best
    }

    @Test("equal tensors split into equal groups, in their order, covering every tensor once")
    func equalSizes() {
        let sizes = [Int](repeating: 100, count: 12)
        let ranges = ShardLayout.split(sizes, into: 3)
        #expect(ranges == [0..<4, 4..<8, 8..<12])
        #expect(ShardLayout.split(sizes, into: 4) == [0..<3, 3..<6, 6..<9, 9..<12])
    }

    @Test(
        "the largest group is as small as any contiguous split allows, no group is empty",
        arguments: [
            ([5, 1, 1, 1, 1, 1], 2), ([1, 1, 100], 2), ([3, 3, 2, 2, 2], 2), ([10, 20, 30, 40, 50, 60], 3),
            ([0, 0, 0, 7], 3), ([1, 2, 3, 4, 5, 6, 7, 8, 9], 4), ([100, 1, 1, 1, 1, 1, 1, 1, 1], 5), ([8, 1, 1, 8], 3),
        ])
    func minimalMaximum(sizes: [Int], count: Int) {
        let ranges = ShardLayout.split(sizes, into: count)
        #expect(ranges.count == count)
        #expect(ranges.allSatisfy { !$0.isEmpty })
        #expect(ranges.first?.lowerBound == 0 && ranges.last?.upperBound == sizes.count)
        #expect(zip(ranges, ranges.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound })
        #expect(Self.loads(sizes, ranges).max() == Self.bestMaximum(sizes, count), "\(ranges)")
    }

    @Test("the count is capped by the tensors: one tensor is one group, none is one empty group")
    func capped() {
        #expect(ShardLayout.split([7, 8], into: 5) == [0..<1, 1..<2])
        #expect(ShardLayout.split([7], into: 3) == [0..<1])
        #expect(ShardLayout.split([], into: 3) == [0..<0])
        #expect(ShardLayout.split([1, 2, 3], into: 0) == [0..<3])
    }

    @Test("policy: automatic makes one shard per 64 MiB, at most one per processor and 8, never more than the tensors")
    func policy() {
        let mib = 1 << 20
        #expect(ShardPolicy.automatic.shardCount(payloadBytes: 63 * mib, tensorCount: 100, processorCount: 16) == 1)
        #expect(ShardPolicy.automatic.shardCount(payloadBytes: 200 * mib, tensorCount: 100, processorCount: 16) == 3)
        #expect(ShardPolicy.automatic.shardCount(payloadBytes: 200 * mib, tensorCount: 100, processorCount: 2) == 2)
        #expect(ShardPolicy.automatic.shardCount(payloadBytes: 4096 * mib, tensorCount: 100, processorCount: 64) == 8)
        #expect(ShardPolicy.automatic.shardCount(payloadBytes: 4096 * mib, tensorCount: 1, processorCount: 64) == 1)
        #expect(ShardPolicy.single.shardCount(payloadBytes: 4096 * mib, tensorCount: 100, processorCount: 64) == 1)
        #expect(ShardPolicy.count(3).shardCount(payloadBytes: 10, tensorCount: 100, processorCount: 1) == 3)
        #expect(ShardPolicy.count(3).shardCount(payloadBytes: 10, tensorCount: 2, processorCount: 1) == 2)
        #expect(ShardPolicy.count(-4).shardCount(payloadBytes: 10, tensorCount: 2, processorCount: 1) == 1)
    }

    @Test("names follow Hugging Face: model-00001-of-00002.safetensors and model.safetensors.index.json")
    func names() {
        #expect(ShardLayout.shardName(of: "model.safetensors", index: 0, count: 2) == "model-00001-of-00002.safetensors")
        #expect(ShardLayout.shardName(of: "optimizer.safetensors", index: 11, count: 12) == "optimizer-00012-of-00012.safetensors")
        #expect(ShardLayout.indexName(of: "model.safetensors") == "model.safetensors.index.json")
        #expect(ShardLayout.isShard("model-00001-of-00002.safetensors", of: "model.safetensors"))
        #expect(!ShardLayout.isShard("model.safetensors", of: "model.safetensors"))
        #expect(!ShardLayout.isShard("optimizer-00001-of-00002.safetensors", of: "model.safetensors"))
        #expect(!ShardLayout.isShard("model-x-of-00002.safetensors", of: "model.safetensors"))
        #expect(!ShardLayout.isShard("model-00001-00002.safetensors", of: "model.safetensors"))
    }
}
