import Foundation
import GRPCCore
import GRPCProtobuf
import LongrunProto
@testable import LongrunServer
import SwiftProtobuf
import Testing

/// The calls the fast path answers, read from the connection's frames with no child channel: what
/// a child channel did for a stream is done for them.
@Suite("Transport: fast-path streams")
struct FastPathStreamsTests {
    /// A fast-path stream's window is given back as its body is read, or a request larger than
    /// the stream's 64 KiB window would never arrive whole; the connection goes on serving after.
    @Test func aRequestLargerThanTheStreamWindowIsAnsweredOnTheEventLoop() async throws {
        try await Harness.with { h in
            let metadata = any(Google_Protobuf_BytesValue.with { $0.value = Data((0..<300_000).map { UInt8(truncatingIfNeeded: $0) }) })
            var options = CallOptions.defaults
            options.timeout = .seconds(20)
            let created = try await h.producers.createOperation(.with { $0.operationID = "large"; $0.metadata = metadata }, options: options)
            let read = try await h.operations.getOperation(.with { $0.name = "operations/large" }, options: options)
            // Compared as bytes: a failure prints a Bool, not 300 kB.
            #expect(try created.metadata.serializedBytes() as [UInt8] == metadata.serializedBytes())
            #expect(try read.metadata.serializedBytes() as [UInt8] == metadata.serializedBytes())
            for id in ["after-1", "after-2"] { _ = try await h.create(id: id) }
            #expect(h.server.callsAnsweredOnEventLoop >= 4)
        }
    }
}
