// swift-tools-version: 6.1
import PackageDescription

/// The same language settings as the main package.
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

/// Benchmarks of Resumable against the Python peers and the machine's limits.
/// Run them with `Benchmarks/compare.sh` (see docs/PERFORMANCE.md).
let package = Package(
    name: "ResumableBenchmarks",
    dependencies: [
        .package(name: "Resumable", path: "..")
    ],
    targets: [
        .executableTarget(
            name: "resumable-bench",
            dependencies: [.product(name: "Resumable", package: "Resumable")],
            swiftSettings: swiftSettings
        )
    ]
)
