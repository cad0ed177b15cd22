// swift-tools-version: 6.1
import PackageDescription

/// Fault injection (`FaultInjection`, `RESUMABLE_FAULT`) is compiled in only
/// when the package is built with RESUMABLE_FAULT_INJECTION=1 in the
/// environment, as scripts/test.sh does: never in a user's build.
let faultInjection = Context.environment["RESUMABLE_FAULT_INJECTION"] == "1"

/// One set of language settings for every target.
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
] + (faultInjection ? [.define("RESUMABLE_FAULT_INJECTION")] : [])

let package = Package(
    name: "Resumable",
    products: [
        .library(name: "Resumable", targets: ["Resumable"]),
        .executable(name: "resumable", targets: ["ResumableCLI"]),
        .executable(name: "digits", targets: ["Digits"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/yaslab/CSV.swift", from: "2.5.2"),
    ],
    targets: [
        // A small JSON value type with a strict, depth-limited parser and a sorted-key writer.
        .target(name: "JSON", swiftSettings: swiftSettings),
        // System calls wrapped once: fsync, atomic rename, locks, mmap, fault injection.
        .target(name: "CSystemShims"),
        .target(
            name: "DurableFiles",
            dependencies: [
                "JSON",
                "CSystemShims",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        // The safetensors format: validating zero-copy reader and streaming writer.
        .target(name: "SafeTensors", dependencies: ["JSON", "DurableFiles"], swiftSettings: swiftSettings),
        // Runs, manifests, the commit protocol, references, verification and retention.
        .target(
            name: "CheckpointStore",
            dependencies: ["JSON", "CSystemShims", "DurableFiles", "SafeTensors", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        // Exact resume for training loops: state, generators, data cursor, loop driver, signals.
        .target(
            name: "Training",
            dependencies: ["JSON", "DurableFiles", "SafeTensors", "CheckpointStore", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        // `resumable run`: supervises a job of any language (restarts, signals, journal, Slurm requeue).
        .target(
            name: "Supervisor",
            dependencies: [
                "JSON", "DurableFiles", "CheckpointStore", "CSystemShims",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // Pipelines: the pipeline file, stage fingerprints, the stage ledger, the plan and the runner.
        .target(
            name: "Pipelines",
            dependencies: ["JSON", "CSystemShims", "DurableFiles", "CheckpointStore", "Supervisor", .product(name: "Yams", package: "Yams")],
            swiftSettings: swiftSettings
        ),
        // Sweeps: the sweep file, units keyed by content, unit records, claims and the plan.
        .target(
            name: "Sweeps",
            dependencies: [
                "JSON", "CSystemShims", "DurableFiles", "CheckpointStore", "Supervisor", "Pipelines",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // A content-addressed cache: a value computed once per key, stored durably, checked on every read.
        .target(
            name: "ResultCache",
            dependencies: ["JSON", "DurableFiles", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        // The umbrella module.
        .target(
            name: "Resumable",
            dependencies: ["JSON", "DurableFiles", "SafeTensors", "CheckpointStore", "Training", "Supervisor", "Pipelines", "Sweeps", "ResultCache"],
            swiftSettings: swiftSettings
        ),
        // The `resumable` command line.
        .executableTarget(
            name: "ResumableCLI",
            dependencies: [
                "Resumable",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                // `sweep merge` writes results.csv with its CSVWriter (Foundation: the CLI only).
                .product(name: "CSV", package: "CSV.swift"),
            ],
            swiftSettings: swiftSettings
        ),
        // The example: an MLP on the handwritten digits, killed and resumed at will.
        .executableTarget(
            name: "Digits",
            dependencies: [
                "Resumable",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Examples/Digits",
            exclude: ["README.md", "digits.csv.gz"],
            swiftSettings: swiftSettings
        ),
        // Test helpers: the crash tests' workload, and the writer process they kill.
        .target(
            name: "CrashWorkload",
            dependencies: ["Resumable"],
            path: "Tests/Helpers/CrashWorkload",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "resumable-crash-writer",
            dependencies: ["CrashWorkload", "Resumable", .product(name: "Logging", package: "swift-log")],
            path: "Tests/Helpers/CrashWriter",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ResumableTests",
            dependencies: ["Resumable", "CrashWorkload", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
    ]
)
