import GRPCCore
import GRPCNIOTransportHTTP2
import LongrunCLIKit
import LongrunClient
import LongrunEngine
import LongrunStore
import LongrunProto
import LongrunTestSupport
import SwiftProtobuf
import Testing

@Suite("longrun.v1 producers and history over the socket")
struct ProducersAndHistoryTests {
    @Test func updateReportsVersionAndCancellation() async throws {
        try await Harness.with { h in
            let op = try await h.create(id: "job")
            var update = Longrun_V1_UpdateOperationRequest()
            update.name = op.name
            update.metadata = any(Google_Protobuf_StringValue("50%"))
            update.expectedVersion = 1
            let first = try await h.producers.updateOperation(update)
            #expect(first.version == 2)
            #expect(!first.cancelRequested)
            await expectRPCError(.aborted, reason: "VERSION_MISMATCH") { _ = try await h.producers.updateOperation(update) }
            _ = try await h.operations.cancelOperation(.with { $0.name = op.name })
            update.clearExpectedVersion()
            let second = try await h.producers.updateOperation(update)
            #expect(second.cancelRequested)
            var complete = Longrun_V1_CompleteOperationRequest()
            complete.name = op.name
            await expectRPCError(.invalidArgument, reason: "MISSING_RESULT") { _ = try await h.producers.completeOperation(complete) }
            complete.error = .with {
                $0.code = 1
                $0.message = "stopped as asked"
            }
            let done = try await h.producers.completeOperation(complete)
            #expect(done.error.code == 1)
            await expectRPCError(.failedPrecondition, reason: "OPERATION_ALREADY_DONE") { _ = try await h.producers.completeOperation(complete) }
            await expectRPCError(.alreadyExists, reason: "OPERATION_ALREADY_EXISTS") { _ = try await h.create(id: "job") }
        }
    }

    @Test func aStreamOfTransitionsIsAppliedInOrderAndAnsweredByTag() async throws {
        try await Harness.with { h in
            let count = 300
            let responses = try await h.producers.streamTransitions(requestProducer: { writer in
                for index in 0..<count {
                    try await writer.write(.with {
                        $0.tag = UInt64(index * 3)
                        $0.create = .with { $0.operationID = "s-\(index)" }
                    })
                    // Applied in order received, so the update and completion can follow at once.
                    try await writer.write(.with {
                        $0.tag = UInt64(index * 3 + 1)
                        $0.update = .with { $0.name = "operations/s-\(index)"; $0.expectedVersion = 1 }
                    })
                    try await writer.write(.with {
                        $0.tag = UInt64(index * 3 + 2)
                        $0.complete = .with { $0.name = "operations/s-\(index)"; $0.response = any(Google_Protobuf_Empty()) }
                    })
                }
                try await writer.write(.with { $0.tag = 999_999 })  // no command: answered with an error
            }) { response in
                var byTag: [UInt64: Longrun_V1_TransitionResponse] = [:]
                for try await message in response.messages { byTag[message.tag] = message }
                return byTag
            }
            #expect(responses.count == count * 3 + 1)
            for index in 0..<count {
                #expect(responses[UInt64(index * 3)]?.operation.name == "operations/s-\(index)")
                #expect(responses[UInt64(index * 3 + 1)]?.update.version == 2)
                #expect(responses[UInt64(index * 3 + 2)]?.operation.done == true)
            }
            #expect(responses[999_999]?.error.code == Int32(RPCError.Code.invalidArgument.rawValue))
            // The stream's transitions shared commits.
            #expect(h.engine.writerStatistics.commits < UInt64(count * 3))
        }
    }

    @Test func historyListsEveryTransitionOfADeletedOperationWithActors() async throws {
        try await Harness.with { h in
            let op = try await h.create(id: "audited", actor: "deployer")
            _ = try await h.producers.updateOperation(.with { $0.name = op.name })
            _ = try await h.operations.cancelOperation(.with { $0.name = op.name })
            _ = try await h.operations.deleteOperation(.with { $0.name = op.name })
            var request = Longrun_V1_ListOperationEventsRequest()
            request.name = op.name
            request.pageSize = 2
            var events: [Longrun_V1_OperationEvent] = []
            repeat {
                let page = try await h.history.listOperationEvents(request)
                events += page.events
                request.pageToken = page.nextPageToken
            } while !request.pageToken.isEmpty
            #expect(events.map(\.sequence) == [1, 2, 3, 4])
            #expect(events.first?.actor.label == "deployer")
            #expect(events[1].progressed.version == 2)
            #expect(events.map(HumanOutput.kind) == ["created", "progressed", "cancel_requested", "deleted"])
            await expectRPCError(.notFound) { _ = try await h.history.listOperationEvents(.with { $0.name = "operations/never" }) }
        }
    }

    @Test func watchStreamsAndResumesExactlyAfterTheLastSequenceSeen() async throws {
        try await Harness.with { h in
            let a = try await h.create(id: "a")
            _ = try await h.create(id: "other", parent: "tenants/x")
            _ = try await h.complete(a.name, response: any(Google_Protobuf_Empty()))
            // From the start: only the root collection's events, with the state of each operation.
            let first: [Longrun_V1_OperationEvent] = try await h.history.watchOperations(.with { $0.name = "operations" }) { response in
                var events: [Longrun_V1_OperationEvent] = []
                for try await event in response.messages {
                    events.append(event)
                    if events.count == 2 { break }
                }
                return events
            }
            #expect(first.map(\.sequence) == [1, 3])
            #expect(first.last?.operation.done == true)
            // Resume after 3: sees only what is committed later.
            async let resumed: [UInt64] = h.history.watchOperations(.with { $0.name = "operations"; $0.afterSequence = 3 }) { response in
                var sequences: [UInt64] = []
                for try await event in response.messages {
                    sequences.append(event.sequence)
                    if sequences.count == 2 { break }
                }
                return sequences
            }
            try await Task.sleep(for: .milliseconds(50))
            let b = try await h.create(id: "b")
            _ = try await h.producers.updateOperation(.with { $0.name = b.name })
            #expect(try await resumed == [4, 5])
            await expectRPCError(.outOfRange, reason: "SEQUENCE_AHEAD_OF_LOG") {
                try await h.history.watchOperations(.with { $0.afterSequence = 1000 }) { response in
                    for try await _ in response.messages {}
                }
            }
        }
    }

    /// The same wildcards as List: `tenants/-` follows every tenant's collection and nothing else.
    @Test func watchFollowsEveryCollectionAWildcardNames() async throws {
        try await Harness.with { h in
            _ = try await h.create(id: "a", parent: "tenants/x")          // 1
            _ = try await h.create(id: "root")                            // 2
            _ = try await h.create(id: "b", parent: "tenants/y")          // 3
            _ = try await h.create(id: "c", parent: "tenants/x/teams/t")  // 4
            _ = try await h.create(id: "d", parent: "tenants/y")          // 5
            let names: [String] = try await h.history.watchOperations(.with { $0.name = "tenants/-" }) { response in
                var names: [String] = []
                for try await event in response.messages {
                    names.append(event.name)
                    if names.count == 3 { break }
                }
                return names
            }
            #expect(names == ["tenants/x/operations/a", "tenants/y/operations/b", "tenants/y/operations/d"])
            let all: [UInt64] = try await h.history.watchOperations(.with { $0.name = "-" }) { response in
                var sequences: [UInt64] = []
                for try await event in response.messages {
                    sequences.append(event.sequence)
                    if sequences.count == 5 { break }
                }
                return sequences
            }
            #expect(all == [1, 2, 3, 4, 5])
            await expectRPCError(.invalidArgument, reason: "INVALID_NAME") {
                try await h.history.watchOperations(.with { $0.name = "-/x" }) { response in
                    for try await _ in response.messages {}
                }
            }
        }
    }

    @Test func detailsShowWhatTheOperationMessageDoesNot() async throws {
        try await Harness.with { h in
            let op = try await h.create(id: "detailed", actor: "maker")
            var details = try await h.history.getOperationDetails(.with { $0.name = op.name })
            #expect(details.version == 1)
            #expect(!details.cancelRequested)
            #expect(details.creator.label == "maker")
            #expect(!details.hasEndTime)
            var metadata = Metadata()
            metadata.addString("no longer needed", forKey: "longrun-cancel-reason")
            _ = try await h.operations.cancelOperation(.with { $0.name = op.name }, metadata: metadata)
            details = try await h.history.getOperationDetails(.with { $0.name = op.name })
            #expect(details.cancelRequested)
            #expect(details.cancelReason == "no longer needed")
            #expect(details.hasCancelDeadline)
            #expect(details.version == 2)
            _ = try await h.operations.deleteOperation(.with { $0.name = op.name })
            await expectRPCError(.notFound) { _ = try await h.history.getOperationDetails(.with { $0.name = op.name }) }
        }
    }

    @Test func takeSnapshotWritesAVerifiableSnapshotOfTheCommittedViews() async throws {
        try await Harness.with { h in
            for index in 0..<5 { _ = try await h.create(id: "snap-\(index)") }
            let response = try await h.admin.takeSnapshot(.init())
            #expect(response.sequence == 5)
            #expect(response.sizeBytes > 0)
            #expect(response.path.hasPrefix(h.engine.location + "/snapshots/"))
            let header = try SnapshotFile.verify(response.path)
            #expect(header.sequence == 5)
            // Nothing new: the same snapshot.
            #expect(try await h.admin.takeSnapshot(.init()).path == response.path)
        }
    }

    @Test func serverInfoDescribesTheStore() async throws {
        try await Harness.with { h in
            _ = try await h.create()
            let info = try await h.admin.getServerInfo(.init())
            #expect(info.appliedSequence == 1)
            #expect(info.durability == "full")
            #expect(info.dataDirectory == h.engine.location)
        }
    }
}
