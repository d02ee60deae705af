public import GRPCCore
import NIOCore

/// The bytes of one gRPC message as ``UnixServerTransport`` hands them to grpc-swift and takes
/// them back: a `ByteBuffer` slice of what was read from the stream, never copied on the way in.
public struct StreamBytes: GRPCContiguousBytes, Sendable {
    var buffer: ByteBuffer

    init(_ buffer: ByteBuffer) {
        self.buffer = buffer
    }

    public init(repeating byte: UInt8, count: Int) {
        buffer = ByteBuffer(repeating: byte, count: count)
    }

    public init(_ bytes: some Sequence<UInt8>) {
        buffer = ByteBuffer(bytes: bytes)
    }

    public var count: Int { buffer.readableBytes }

    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try buffer.withUnsafeReadableBytes(body)
    }

    public mutating func withUnsafeMutableBytes<R>(_ body: (UnsafeMutableRawBufferPointer) throws -> R) rethrows -> R {
        try buffer.withUnsafeMutableReadableBytes(body)
    }
}
