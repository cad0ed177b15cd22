// libFuzzer target for the parsers that read untrusted bytes: the safetensors
// header (`SafeTensorsHeader.parse`), the manifest decoder
// (`Manifest.decode`) and the JSON parser under both. Every input goes
// through all three. A parse may fail; it must never crash, and what it
// accepts must be self-consistent (asserted below, so a violation is a crash
// libFuzzer reports). Built and run by scripts/fuzz.sh; see docs/FUZZING.md.
#if canImport(Glibc)
import Glibc
#endif
import CheckpointStore
import JSON
import SafeTensors

/// Stops the process (SIGABRT) so libFuzzer records the input as a crash.
func violated(_ what: String) -> Never {
    print("fuzz invariant violated: \(what)")
    abort()
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)

    // The safetensors header: whatever is accepted lies inside the file.
    if let header = try? SafeTensorsHeader.parse(bytes, path: "fuzz.safetensors") {
        var end = 0
        for t in header.tensors {
            guard t.dataOffsets.lowerBound == end else { violated("offsets not contiguous") }
            end = t.dataOffsets.upperBound
            guard let n = elementCount(of: t.shape), t.dtype.byteCount(elements: n) == t.byteCount else {
                violated("byte count of \(t.name) does not match its shape")
            }
            let start = header.dataStart + t.dataOffsets.lowerBound
            guard start + t.byteCount <= bytes.count else { violated("tensor \(t.name) runs past the end") }
            _ = bytes[start..<(start + t.byteCount)].reduce(0, &+)
        }
        guard header.dataStart + end == bytes.count else { violated("data does not end at the end of the file") }
        guard Set(header.tensors.map(\.name)).count == header.tensors.count else { violated("duplicate names") }
    }

    // The JSON parser: what it accepts, the writer writes back to an equal value.
    if let value = try? JSONParser(maxDepth: 64).parse(bytes) {
        guard let again = try? JSONParser(maxDepth: 64).parse(value.serialized()), again == value else {
            violated("JSON does not round-trip: \(value.serialized())")
        }
    }

    // The manifest decoder: accepted file names never leave the checkpoint directory.
    if let manifest = try? Manifest.decode(Array(bytes), path: "manifest.json") {
        for f in manifest.files {
            guard !f.name.contains("/"), f.name != "..", f.name != ".", !f.name.isEmpty else {
                violated("manifest accepted the file name \(f.name)")
            }
        }
        guard manifest.step >= 0, manifest.epoch >= 0 else { violated("negative step or epoch") }
    }
    return 0
}
