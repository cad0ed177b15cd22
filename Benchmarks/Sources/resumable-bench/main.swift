#if canImport(Glibc)
import Glibc
#endif

/// `resumable-bench`: one process per (method, phase), as the protocol in
/// docs/PERFORMANCE.md asks; `Benchmarks/compare.sh` runs them all.
do {
    let options = try Options(Array(CommandLine.arguments.dropFirst()))
    switch options.command {
    case "save": try SaveBench.run(options, checksums: true)
    case "save-nohash": try SaveBench.run(options, checksums: false)
    case "open", "load", "touch": try LoadBench.run(options)
    case "async": try AsyncBench.run(options)
    case "listing": try ListingBench.run(options)
    case "resume": try ResumeBench.run(options)
    case "memcpy": LimitsBench.memcpy(options)
    case "memcpy-idle": LimitsBench.memcpyIdle(options)
    case "sha256": LimitsBench.sha256(options)
    case "hash-probe": try HashProbe.run(options)
    default: throw BenchFailure(Options.usage)
    }
} catch {
    report("resumable-bench: \(error)")
    exit(1)
}
