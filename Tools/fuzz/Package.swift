// swift-tools-version: 6.1
// libFuzzer targets for Longrun's untrusted-input parsers. Built apart from the root package
// because every target is linked with -sanitize=fuzzer,address and -parse-as-library: see `run`.
import PackageDescription

let domain: [Target.Dependency] = [.product(name: "LongrunDomain", package: "Longrun")]
let store: [Target.Dependency] = domain + [.product(name: "LongrunStore", package: "Longrun")]

let package = Package(
    name: "LongrunFuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "Longrun", path: "../.."),
    ],
    targets: [
        .executableTarget(name: "fuzz-filter", dependencies: domain),
        .executableTarget(name: "fuzz-page-token", dependencies: domain),
        .executableTarget(name: "fuzz-names", dependencies: domain),
        .executableTarget(name: "fuzz-event-codec", dependencies: store),
    ],
    swiftLanguageModes: [.v6]
)
