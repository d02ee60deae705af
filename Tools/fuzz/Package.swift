// swift-tools-version: 6.1
// libFuzzer targets for Longrun's untrusted-input parsers. Built apart from the root package
// because every target is linked with -sanitize=fuzzer,address and -parse-as-library: see `run`.
import PackageDescription

// The properties themselves live in the root package (LongrunFuzzProperties), where the seeded
// tests check them too: the targets here only feed them libFuzzer's inputs.
let properties: [Target.Dependency] = [.product(name: "LongrunFuzzProperties", package: "Longrun")]

let package = Package(
    name: "LongrunFuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "Longrun", path: "../.."),
    ],
    targets: [
        .executableTarget(name: "fuzz-filter", dependencies: properties),
        .executableTarget(name: "fuzz-page-token", dependencies: properties),
        .executableTarget(name: "fuzz-names", dependencies: properties),
        .executableTarget(name: "fuzz-event-codec", dependencies: properties),
    ],
    swiftLanguageModes: [.v6]
)
