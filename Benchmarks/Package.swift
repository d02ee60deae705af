// swift-tools-version: 6.1
// Benchmarks live in their own package so that the test build does not compile the benchmark
// stack. Run from this directory: `swift package benchmark` (see BENCHMARKS.md at the top level).
import PackageDescription

// The same upcoming features as the root package (see its Package.swift), for every target here.
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "LongrunBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "Longrun", path: ".."),
        .package(url: "https://github.com/ordo-one/package-benchmark.git", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/grpc/grpc-swift-2.git", from: "2.4.3"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport.git", from: "2.9.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-http2.git", from: "1.46.0"),
    ],
    targets: [
        .executableTarget(
            name: "EngineBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "package-benchmark"),
                .product(name: "LongrunEngine", package: "Longrun"),
                .product(name: "LongrunStore", package: "Longrun"),
                .product(name: "LongrunDomain", package: "Longrun"),
                .product(name: "LMDB", package: "Longrun"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/EngineBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")]
        ),
        // What both tools need alike: the cached-store bookkeeping, load averages, durations.
        .target(name: "BenchmarkSupport", path: "Sources/BenchmarkSupport"),
        // Builds a store of N events and measures replay, reopen, snapshots and verify on it.
        .executableTarget(
            name: "store-figures",
            dependencies: [
                "BenchmarkSupport",
                .product(name: "LongrunEngine", package: "Longrun"),
                .product(name: "LongrunStore", package: "Longrun"),
                .product(name: "LongrunDomain", package: "Longrun"),
                .product(name: "LMDB", package: "Longrun"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/store-figures"
        ),
        // Starts a real longrund on a temporary socket and data directory and drives it.
        .executableTarget(
            name: "longrun-load",
            dependencies: [
                "BenchmarkSupport",
                .product(name: "LongrunProto", package: "Longrun"),
                .product(name: "LongrunEngine", package: "Longrun"),
                .product(name: "LongrunStore", package: "Longrun"),
                .product(name: "LongrunDomain", package: "Longrun"),
                .product(name: "LMDB", package: "Longrun"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "LongrunServer", package: "Longrun"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "NIOHPACK", package: "swift-nio-http2"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/longrun-load"
        ),
    ],
    swiftLanguageModes: [.v6]
)

for target in package.targets {
    target.swiftSettings = (target.swiftSettings ?? []) + swiftSettings
}
