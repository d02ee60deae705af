// swift-tools-version: 6.1
// Builds only the two protoc plugins used by Tools/generate-protos.sh:
//   protoc-gen-swift         (messages, from swift-protobuf)
//   protoc-gen-grpc-swift-2  (gRPC stubs, from grpc-swift-protobuf)
// It has no targets of its own; the script runs
//   swift build -c release --package-path Tools/protoc-plugins \
//     --scratch-path Tools/protoc-plugins/.build --product <name>
// The versions must match the runtime dependencies in the root Package.swift.
import PackageDescription

let package = Package(
    name: "LongrunProtocPlugins",
    dependencies: [
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf.git", from: "2.4.1"),
    ],
    targets: []
)
