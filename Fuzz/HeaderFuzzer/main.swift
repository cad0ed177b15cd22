// libFuzzer target for the parsers that read untrusted bytes: the safetensors
// header (`SafeTensorsHeader.parse`), the manifest decoder
// (`Manifest.decode`), the run identity (`RunInfo(json:)`) and the JSON parser
// under them, with the round trip through their writers (what the writer
// accepts, the reader reads back equal). Every input goes
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
        _ = Checkpoint(directory: "fuzz", manifest: manifest).bytes
        // Round trip: what the writer accepts, the reader reads back as the same manifest.
        if let written = try? manifest.encodedForWriting() {
            guard let again = try? Manifest.decode(written, path: "manifest.json") else {
                violated("the reader refuses a manifest the writer wrote: \(String(decoding: written, as: UTF8.self))")
            }
            guard again.json == manifest.json else {
                violated("manifest does not round-trip: \(String(decoding: written, as: UTF8.self))")
            }
        }
    }

    // run.json: the same round trip for the run identity.
    if let value = try? JSONParser(maxDepth: Manifest.maxDepth).parse(bytes),
        let run = try? RunInfo(json: value, path: "run.json"),
        let written = try? run.encodedForWriting()
    {
        guard let reread = try? JSONParser(maxDepth: Manifest.maxDepth).parse(written),
            let again = try? RunInfo(json: reread, path: "run.json")
        else {
            violated("the reader refuses a run.json the writer wrote: \(String(decoding: written, as: UTF8.self))")
        }
        guard again.json == run.json else { violated("run.json does not round-trip: \(String(decoding: written, as: UTF8.self))") }
    }

    // The writer's own checks on any parsed value used as metadata: a value
    // they accept is written into a manifest the reader accepts.
    if let value = try? JSONParser(maxDepth: Manifest.maxDepth).parse(bytes) {
        let manifest = Manifest(step: 1, epoch: 0, runID: "fuzz", configFingerprint: "", metadata: ["fuzz": value], extra: ["x": value])
        if let written = try? manifest.encodedForWriting() {
            guard let again = try? Manifest.decode(written, path: "manifest.json"), again.json == manifest.json else {
                violated("metadata the writer accepted does not read back: \(value.serialized())")
            }
        }
    }
    return 0
}
