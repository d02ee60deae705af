// swift-tools-version: 6.1
import PackageDescription

let grpc: [Target.Dependency] = [
    .product(name: "GRPCCore", package: "grpc-swift-2"),
    .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
    .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
    .product(name: "SwiftProtobuf", package: "swift-protobuf"),
]

// The upcoming features the anchors build with (grpc-swift-2, swift-log): `any` spelled out on
// every existential, imports internal unless marked `public`/`package` (so a module's public
// surface names exactly the modules it exposes), and members visible only from modules a file
// imports itself. Applied to every Swift target at the end of this file, so they live in one place.
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "Longrun",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "LongrunEngine", targets: ["LongrunEngine"]),
        .library(name: "LongrunStore", targets: ["LongrunStore"]),
        .library(name: "LongrunDomain", targets: ["LongrunDomain"]),
        // The shared backend, for embedders that run the engine on PostgreSQL.
        .library(name: "LongrunPostgres", targets: ["LongrunPostgres"]),
        // Conversions between the domain's payloads, statuses and states and their protobuf messages.
        .library(name: "LongrunWire", targets: ["LongrunWire"]),
        .library(name: "LongrunProto", targets: ["LongrunProto"]),
        .library(name: "LongrunClient", targets: ["LongrunClient"]),
        // The raw LMDB wrapper, for the benchmarks' baselines (raw appends, raw cursor scans).
        .library(name: "LMDB", targets: ["LMDB"]),
        // The daemon's gRPC front, for the benchmarks' no-op server on the daemon's own transport.
        .library(name: "LongrunServer", targets: ["LongrunServer"]),
        // The properties the seeded fuzz tests check, for Tools/fuzz's libFuzzer targets to check the same.
        .library(name: "LongrunFuzzProperties", targets: ["LongrunFuzzProperties"]),
        .executable(name: "longrund", targets: ["longrund"]),
        .executable(name: "longrun", targets: ["longrun"]),
        .executable(name: "longrun-replay", targets: ["longrun-replay"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
        .package(url: "https://github.com/grpc/grpc-swift-2.git", from: "2.4.3"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf.git", from: "2.4.1"),
        // The daemon reads each connection's SO_PEERCRED and hands it to handlers (LongrunServer).
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-http2.git", from: "1.46.0"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport.git", from: "2.9.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        // The shared backend: several hosts on one PostgreSQL store (LongrunPostgres).
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        // The daemon's opt-in Prometheus endpoint (--metrics-listen): metric types and their exposition.
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        // Snapshots' records are written as one zlib stream (the system's zlib, from zlib1g-dev).
        .package(url: "https://github.com/adam-fowler/compress-nio.git", from: "1.5.0"),
    ],
    targets: [
        // LMDB from Debian's liblmdb-dev, found with pkg-config.
        .systemLibrary(
            name: "CLMDB",
            pkgConfig: "lmdb",
            providers: [.apt(["liblmdb-dev"])]
        ),
        // A small typed wrapper: environment, databases, managed transactions, cursors, one error.
        .target(name: "LMDB", dependencies: ["CLMDB"]),
        // CRC-32C for the records' checksums (hardware instruction where the processor has one).
        .target(name: "CCRC32C"),
        // The operation lifecycle: names, events, decide/apply, filters. No I/O, no protobuf.
        .target(name: "LongrunDomain"),
        // The schema, the log, the views and replay on top of LMDB.
        .target(
            name: "LongrunStore",
            dependencies: [
                "LongrunDomain", "LMDB", "CCRC32C",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        // The shared backend of the storage seam: one store on PostgreSQL for several hosts.
        .target(
            name: "LongrunPostgres",
            dependencies: [
                "LongrunDomain", "LongrunStore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // The writer (group commit), waiters and the engine facade that embedders and the daemon use.
        .target(
            name: "LongrunEngine",
            dependencies: [
                "LongrunDomain", "LongrunStore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "HeapModule", package: "swift-collections"),
            ]
        ),
        // Where the daemon and its clients meet by default: data directory and socket paths.
        .target(name: "LongrunDefaults"),
        // Generated protobuf messages and gRPC stubs (Tools/generate-protos.sh, in Generated/), and
        // two hand-written files every printer shares: AnyJSON.swift and Any+MessageName.swift.
        .target(name: "LongrunProto", dependencies: grpc + ["LongrunDefaults"], path: "Sources/LongrunProto"),
        // Conversions between domain values and their protobuf messages.
        .target(
            name: "LongrunWire",
            dependencies: ["LongrunDomain", "LongrunProto", .product(name: "SwiftProtobuf", package: "swift-protobuf")]
        ),
        // The edge: the error table, the gRPC services and the server.
        .target(
            name: "LongrunServer",
            dependencies: grpc + [
                "LongrunDomain", "LongrunEngine", "LongrunStore", "LongrunProto", "LongrunWire", "LongrunDefaults",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "NIOHPACK", package: "swift-nio-http2"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        // A Swift client for the socket: typed operation handles and producer handles.
        .target(
            name: "LongrunClient",
            dependencies: grpc + ["LongrunProto", "LongrunDefaults"]
        ),
        // What the tools print and read: human and JSON output, RFC 3339 times, payload arguments,
        // durations, exit codes. No gRPC client: longrun-replay prints with it offline.
        .target(
            name: "LongrunCLIKit",
            dependencies: [
                "LongrunProto", "LongrunDefaults", "LongrunDomain", "LongrunWire",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ]
        ),
        // longrund's config file and LONGRUND_* variables, layered under its flags (keys read off
        // the ArgumentParser declarations). Its own target: the CLI need not link it.
        .target(
            name: "LongrundConfig",
            dependencies: [.product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .executableTarget(
            name: "longrund",
            dependencies: [
                "LongrunServer", "LongrunEngine", "LongrunDefaults", "LongrunDomain", "LongrunPostgres", "LongrunStore", "LongrundConfig",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "longrun",
            dependencies: grpc + [
                "LongrunClient", "LongrunCLIKit", "LongrunProto", "LongrunDefaults",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // What longrun-replay does, as a library its tests call: reports, dumps, state as of a point.
        .target(
            name: "LongrunReplayKit",
            dependencies: [
                "LongrunStore", "LongrunPostgres", "LongrunDomain", "LongrunWire", "LongrunProto", "LongrunCLIKit",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ]
        ),
        // The offline audit and recovery tool: verify, rebuild, dump, history, state --at, snapshots.
        .executableTarget(
            name: "longrun-replay",
            dependencies: [
                "LongrunReplayKit", "LongrunStore", "LongrunPostgres", "LongrunDomain", "LongrunWire", "LongrunProto", "LongrunDefaults",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            path: "Tools/longrun-replay"
        ),
        .target(
            name: "LongrunTestSupport",
            dependencies: ["LongrunDomain", "LongrunStore", "LongrunEngine", "LongrunPostgres", .product(name: "Logging", package: "swift-log")],
            path: "Tests/LongrunTestSupport"
        ),
        // What the parsers of untrusted input must satisfy (filters, page tokens, names, records):
        // one copy for the seeded tests below and for Tools/fuzz, which depends on it as a product.
        .target(
            name: "LongrunFuzzProperties",
            dependencies: ["LongrunDomain", "LongrunStore"],
            path: "Tests/LongrunFuzzProperties"
        ),
        .testTarget(name: "LMDBTests", dependencies: ["LMDB"]),
        .testTarget(name: "LongrunDomainTests", dependencies: ["LongrunDomain", "LongrunTestSupport", "LongrunFuzzProperties"]),
        .testTarget(name: "LongrunStoreTests", dependencies: ["LongrunStore", "LongrunTestSupport", "LongrunFuzzProperties"]),
        .testTarget(name: "LongrunEngineTests", dependencies: ["LongrunEngine", "LongrunStore", "LongrunPostgres", "LongrunTestSupport"]),
        .testTarget(name: "LongrunPostgresTests", dependencies: ["LongrunPostgres", "LongrunEngine", "LongrunStore", "LongrunTestSupport"]),
        .testTarget(name: "LongrunServerTests", dependencies: grpc + ["LongrunServer", "LongrunClient", "LongrunCLIKit", "LongrunStore", "LongrunProto", "LongrunTestSupport",
                                                                  .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                                                                  .product(name: "Prometheus", package: "swift-prometheus"),
                                                                  .product(name: "NIOCore", package: "swift-nio"),
                                                                  .product(name: "NIOEmbedded", package: "swift-nio")]),
        .testTarget(name: "LongrunReplayKitTests", dependencies: ["LongrunReplayKit", "LongrunStore", "LongrunPostgres", "LongrunEngine", "LongrunTestSupport"]),
        .testTarget(name: "LongrunWireTests", dependencies: ["LongrunWire", "LongrunDomain", "LongrunProto", "LongrunTestSupport",
                                                           .product(name: "SwiftProtobuf", package: "swift-protobuf")]),
        .testTarget(name: "LongrunDefaultsTests", dependencies: ["LongrunDefaults"]),
        .testTarget(name: "LongrundConfigTests", dependencies: ["LongrundConfig", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        // Protobuf values shared by the client's and the CLI kit's tests.
        .target(
            name: "LongrunProtoTestSupport",
            dependencies: ["LongrunProto", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            path: "Tests/LongrunProtoTestSupport"
        ),
        .testTarget(name: "LongrunClientTests", dependencies: grpc + ["LongrunClient", "LongrunProto", "LongrunDefaults", "LongrunProtoTestSupport"]),
        .testTarget(name: "LongrunCLIKitTests", dependencies: ["LongrunCLIKit", "LongrunProto", "LongrunDomain", "LongrunProtoTestSupport",
                                                               .product(name: "SwiftProtobuf", package: "swift-protobuf")]),
        // The CLI's own code (its error lines), tested through @testable import of the executable.
        // The README's Swift examples are the files in Snippets/ (which `swift build` compiles).
        .testTarget(name: "SnippetsTests"),
        .testTarget(name: "longrunTests", dependencies: ["longrun", "LongrunClient", "LongrunCLIKit", "LongrunProto",
                                                      .product(name: "SwiftProtobuf", package: "swift-protobuf")]),
    ],
    swiftLanguageModes: [.v6]
)

// Every Swift target gets the shared settings; the C targets (CLMDB, CCRC32C) take none.
for target in package.targets where target.type != .system && target.name != "CCRC32C" {
    target.swiftSettings = (target.swiftSettings ?? []) + swiftSettings
}
