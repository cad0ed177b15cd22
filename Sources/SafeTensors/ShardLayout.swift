/// Where the tensors of a sharded set go: the split into contiguous groups
/// and the Hugging Face file names (`model-00001-of-00003.safetensors`, with
/// the index `model.safetensors.index.json`).
public enum ShardLayout {
    /// Splits tensors of the given sizes, in their order, into `count`
    /// contiguous non-empty groups, so that the largest group holds as few
    /// bytes as possible (the slowest shard sets the time of a parallel write).
    ///
    /// `count` is capped by the number of tensors and raised to 1.
    /// - Returns: index ranges into `byteCounts`, in order, covering all of it
    ///   (one empty range when there are no tensors).
    /// - Complexity: O(n log(total bytes)).
    public static func split(_ byteCounts: [Int], into count: Int) -> [Range<Int>] {
        let n = byteCounts.count
        let groups = max(1, min(count, n))
        guard groups > 1 else { return [0..<n] }
        let sizes = byteCounts.map { max(0, $0) }
        // The smallest capacity a greedy packing fits into `groups` groups.
        var low = sizes.max() ?? 0
        var high = sizes.reduce(0, +)
        while low < high {
            let mid = low + (high - low) / 2
            if greedyGroupCount(sizes, capacity: mid) <= groups { high = mid } else { low = mid + 1 }
        }
        // Pack greedily up to that capacity, closing groups early when the
        // remaining tensors are only just enough for one group each.
        var ranges: [Range<Int>] = []
        var start = 0
        var filled = 0
        for i in 0..<n {
            let groupsLeft = groups - ranges.count
            let tensorsLeft = n - i
            if i > start && (filled + sizes[i] > low || tensorsLeft < groupsLeft) {
                ranges.append(start..<i)
                start = i
                filled = 0
            }
            filled += sizes[i]
        }
        ranges.append(start..<n)
        return ranges
    }

    /// The number of groups packing `sizes` in order, each up to `capacity` bytes, makes.
    private static func greedyGroupCount(_ sizes: [Int], capacity: Int) -> Int {
        var groups = 1
        var filled = 0
        for s in sizes {
            if filled + s > capacity && filled > 0 {
                groups += 1
                filled = 0
            }
            filled += s
        }
        return groups
    }

    /// The name of shard `index` (0-based) of `count` for the tensor file
    /// `name`: `model.safetensors` → `model-00001-of-00003.safetensors`.
    public static func shardName(of name: String, index: Int, count: Int) -> String {
        let suffix = ".safetensors"
        let stem = name.hasSuffix(suffix) ? String(name.dropLast(suffix.count)) : name
        return "\(stem)-\(zeroPadded(index + 1))-of-\(zeroPadded(count))\(suffix)"
    }

    /// Whether `file` is named like a shard of the tensor file `name`
    /// (`model-00002-of-00003.safetensors` for `model.safetensors`).
    public static func isShard(_ file: String, of name: String) -> Bool {
        let suffix = ".safetensors"
        let stem = name.hasSuffix(suffix) ? String(name.dropLast(suffix.count)) : name
        guard file.hasPrefix(stem + "-"), file.hasSuffix(suffix) else { return false }
        let middle = file.dropFirst(stem.count + 1).dropLast(suffix.count)
        let parts = middle.split(separator: "-", omittingEmptySubsequences: false)
        func isNumber(_ s: Substring) -> Bool { !s.isEmpty && s.allSatisfy(\.isASCII) && s.allSatisfy(\.isNumber) }
        return parts.count == 3 && isNumber(parts[0]) && parts[1] == "of" && isNumber(parts[2])
    }

    /// The name of the index of the sharded tensor file `name`: `model.safetensors.index.json`.
    public static func indexName(of name: String) -> String { name + ".index.json" }

    private static func zeroPadded(_ value: Int) -> String {
        let digits = String(value)
        return String(repeating: "0", count: max(0, 5 - digits.count)) + digits
    }
}
