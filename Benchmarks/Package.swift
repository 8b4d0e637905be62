// swift-tools-version: 6.1
// Hooklog's benchmarks: a separate package (as swift-nio does) so that building or testing the
// main package never resolves the benchmark framework. Run with `make bench` (Benchmarks/run.sh),
// or `swift package --disable-sandbox benchmark` in this directory.
import PackageDescription

let upcoming: [SwiftSetting] = [
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("ExistentialAny"),
]

/// A benchmark suite: an executable target under Benchmarks/<name>/, as ordo-one/benchmark's
/// plugin discovers them.
func benchmarkTarget(_ name: String) -> Target {
    .executableTarget(
        name: name,
        dependencies: [
            "LogBenchmarkFixtures",
            .product(name: "Benchmark", package: "benchmark"),
            .product(name: "LogStore", package: "hooklog"),
            .product(name: "NIOCore", package: "swift-nio"),
        ],
        path: "Benchmarks/\(name)",
        swiftSettings: upcoming,
        plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
    )
}

let package = Package(
    name: "hooklog-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "hooklog", path: "../"),
        .package(url: "https://github.com/ordo-one/benchmark.git", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
    ],
    targets: [
        // What every suite shares: prebuilt batches, scratch data directories, the sync-counting
        // file system, settings from the environment and the results file run.sh summarizes.
        .target(
            name: "LogBenchmarkFixtures",
            dependencies: [
                .product(name: "LogStore", package: "hooklog"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: upcoming
        ),
        benchmarkTarget("LogAppend"),
        benchmarkTarget("LogRead"),
        benchmarkTarget("LogMemory"),
    ],
    swiftLanguageModes: [.v6]
)
