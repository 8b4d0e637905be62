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
func benchmarkTarget(_ name: String, extraDependencies: [Target.Dependency] = []) -> Target {
    .executableTarget(
        name: name,
        dependencies: [
            "LogBenchmarkFixtures",
            .product(name: "Benchmark", package: "benchmark"),
            .product(name: "LogStore", package: "hooklog"),
            .product(name: "NIOCore", package: "swift-nio"),
        ] + extraDependencies,
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
        // The dispatch benchmark's webhook sink (in-process) and its HTTP clients.
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
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
        // The protocol benchmarks' shared code: the `hooklog serve` child process and the
        // HubClient producers. (HubServer is not a product of the main package, so the hub runs
        // as a process: build it with `swift build -c release --product hooklog` here.)
        .target(
            name: "HubBenchmarkFixtures",
            dependencies: [
                "LogBenchmarkFixtures",
                .product(name: "HubClient", package: "hooklog"),
                .product(name: "LogStore", package: "hooklog"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: upcoming
        ),
        // The dispatch benchmark's shared code: the hub started with an HTTP listener and a
        // callback allowance for loopback, its HTTP API, the Hummingbird sink and the direct
        // async-http-client load generator.
        .target(
            name: "DispatchBenchmarkFixtures",
            dependencies: [
                "HubBenchmarkFixtures",
                "LogBenchmarkFixtures",
                .product(name: "HubClient", package: "hooklog"),
                .product(name: "LogStore", package: "hooklog"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            swiftSettings: upcoming
        ),
        benchmarkTarget(
            "HubDispatch",
            extraDependencies: [
                "DispatchBenchmarkFixtures", "HubBenchmarkFixtures", .product(name: "HubClient", package: "hooklog"),
            ]),
        benchmarkTarget(
            "HubLoopback",
            extraDependencies: ["HubBenchmarkFixtures", .product(name: "HubClient", package: "hooklog")]),
        benchmarkTarget("LogAppend"),
        benchmarkTarget("LogRead"),
        benchmarkTarget("LogMemory"),
        benchmarkTarget("LogCompaction"),
    ],
    swiftLanguageModes: [.v6]
)
