// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "Longrun",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "LongrunEngine", targets: ["LongrunEngine"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
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
        // The operation lifecycle: names, events, decide/apply, filters. No I/O, no protobuf.
        .target(name: "LongrunDomain"),
        // The schema, the log, the views and replay on top of LMDB.
        .target(
            name: "LongrunStore",
            dependencies: [
                "LongrunDomain", "LMDB",
                .product(name: "Logging", package: "swift-log"),
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
        .target(
            name: "LongrunTestSupport",
            dependencies: ["LongrunDomain", "LongrunStore", "LongrunEngine"],
            path: "Tests/LongrunTestSupport"
        ),
        .testTarget(name: "LMDBTests", dependencies: ["LMDB"]),
        .testTarget(name: "LongrunDomainTests", dependencies: ["LongrunDomain"]),
        .testTarget(name: "LongrunStoreTests", dependencies: ["LongrunStore", "LongrunTestSupport"]),
        .testTarget(name: "LongrunEngineTests", dependencies: ["LongrunEngine", "LongrunTestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
