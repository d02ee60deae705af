import GRPCCore
import LongrunDomain
import LongrunEngine
import LongrunProto
import LongrunTestSupport
import SwiftProtobuf
import Testing

@Suite("longrun.v1 leases over the socket")
struct LeaseServiceTests {
    @Test func heartbeatAdoptAndAnExpiredLeaseWithItsErrorInfo() async throws {
        try await Harness.with { h in
            var create = Longrun_V1_CreateOperationRequest()
            create.operationID = "leased"
            create.lease = .init(seconds: 5)
            let op = try await h.producers.createOperation(create)
            h.clock.advance(by: .seconds(2))
            let beat = try await h.producers.heartbeat(.with { $0.name = op.name })
            #expect(beat.version == 1)
            #expect(!beat.cancelRequested)
            #expect(beat.leaseExpireTime.seconds == h.clock.now().seconds + 5)
            let adopted = try await h.producers.adoptOperation(.with {
                $0.name = op.name
                $0.expectedVersion = 1
                $0.lease = .init(seconds: 3)
            })
            #expect(adopted.version == 2)
            await expectRPCError(.aborted, reason: "VERSION_MISMATCH") {
                _ = try await h.producers.adoptOperation(.with { $0.name = op.name; $0.expectedVersion = 1 })
            }
            let details = try await h.history.getOperationDetails(.with { $0.name = op.name })
            #expect(details.lease.ttl.seconds == 3)
            #expect(details.lease.holder.hasPid)

            h.clock.advance(by: .seconds(3))
            try await h.engine.enforceDeadlines()
            let ended = try await h.operations.getOperation(.with { $0.name = op.name })
            #expect(ended.error.code == Int32(RPCError.Code.aborted.rawValue))
            // The domain's hand-written ErrorInfo decodes with the protobuf runtime.
            let info = try Google_Rpc_ErrorInfo(unpackingAny: try #require(ended.error.details.first))
            #expect(info.reason == "PRODUCER_LEASE_EXPIRED")
            #expect(info.domain == "longrun.dev")
            #expect(info.metadata["pid"] == String(details.lease.holder.pid))
            #expect(info.metadata["uid"] == String(details.lease.holder.uid))
            await expectRPCError(.failedPrecondition, reason: "OPERATION_ALREADY_DONE") {
                _ = try await h.producers.heartbeat(.with { $0.name = op.name })
            }
            let kinds = try await h.history.listOperationEvents(.with { $0.name = op.name }).events.map { event -> String in
                switch event.kind {
                case .created(let created): created.hasLease ? "created(lease)" : "created"
                case .leaseRenewed: "lease_renewed"
                case .adopted(let adopted): "adopted(\(adopted.lease.seconds))"
                case .completed: "completed"
                default: "other"
                }
            }
            #expect(kinds == ["created(lease)", "lease_renewed", "adopted(3)", "completed"])
        }
    }

    @Test func anOpenStreamRenewsTheLeasesOfItsOperations() async throws {
        try await Harness.with { h in
            let renewed = try await h.producers.streamTransitions(requestProducer: { writer in
                try await writer.write(.with {
                    $0.tag = 1
                    $0.create = .with { $0.operationID = "streamed"; $0.lease = .init(seconds: 1) }
                })
                // Keep the stream open until the server has renewed the lease on its own.
                for _ in 0..<200 {
                    let events = try? await h.engine.history(of: .init(parsing: "operations/streamed"), pageSize: 10).events
                    if events?.contains(where: { $0.kind == .leaseRenewed }) == true { return }
                    try await Task.sleep(for: .milliseconds(50))
                }
            }) { response in
                var tags: [UInt64] = []
                for try await message in response.messages { tags.append(message.tag) }
                return tags
            }
            #expect(renewed == [1])
            let events = try await h.engine.history(of: .init(parsing: "operations/streamed"), pageSize: 10).events
            #expect(events.contains { $0.kind == .leaseRenewed })
            #expect(try await h.engine.get(.init(parsing: "operations/streamed")).version == 1)
        }
    }
}
