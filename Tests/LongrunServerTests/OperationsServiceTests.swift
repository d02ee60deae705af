import GRPCCore
import GRPCNIOTransportHTTP2
import LongrunEngine
import LongrunProto
@testable import LongrunServer
import LongrunTestSupport
import SwiftProtobuf
import Testing

@Suite("google.longrunning.Operations over the socket")
struct OperationsServiceTests {
    @Test func getListCancelDeleteWithTheRightCodes() async throws {
        try await Harness.with { h in
            let created = try await h.create(id: "build-1", metadata: any(Google_Protobuf_StringValue("0%")))
            #expect(created.name == "operations/build-1")
            #expect(!created.done)
            #expect(created.result == nil)

            var get = Google_Longrunning_GetOperationRequest()
            get.name = created.name
            #expect(try await h.operations.getOperation(get) == created)

            get.name = "operations/nope"
            await expectRPCError(.notFound, reason: "OPERATION_NOT_FOUND") { _ = try await h.operations.getOperation(get) }
            get.name = "not a name"
            await expectRPCError(.invalidArgument, reason: "INVALID_NAME") { _ = try await h.operations.getOperation(get) }

            var cancel = Google_Longrunning_CancelOperationRequest()
            cancel.name = created.name
            _ = try await h.operations.cancelOperation(cancel)
            let afterCancel = try await h.operations.getOperation(.with { $0.name = created.name })
            #expect(!afterCancel.done, "cooperative: the producer decides")

            var delete = Google_Longrunning_DeleteOperationRequest()
            delete.name = created.name
            _ = try await h.operations.deleteOperation(delete)
            await expectRPCError(.notFound) { _ = try await h.operations.getOperation(.with { $0.name = created.name }) }
            await expectRPCError(.notFound) { _ = try await h.operations.deleteOperation(delete) }
        }
    }

    @Test func listWalksEveryPageAndEndsWithAnEmptyToken() async throws {
        try await Harness.with { h in
            for index in 0..<23 { _ = try await h.create(id: "op-\(index)") }
            var request = Google_Longrunning_ListOperationsRequest()
            request.name = "operations"
            request.pageSize = 5
            var names: [String] = []
            var pages = 0
            repeat {
                let page = try await h.operations.listOperations(request)
                names += page.operations.map(\.name)
                request.pageToken = page.nextPageToken
                pages += 1
            } while !request.pageToken.isEmpty && pages < 100
            #expect(names == (0..<23).map { "operations/op-\($0)" })
            #expect(pages == 5)

            await expectRPCError(.invalidArgument, reason: "INVALID_PAGE_SIZE") {
                _ = try await h.operations.listOperations(.with { $0.pageSize = -1 })
            }
            await expectRPCError(.invalidArgument, reason: "INVALID_FILTER") {
                _ = try await h.operations.listOperations(.with { $0.filter = "done = maybe" })
            }
        }
    }

    /// AIP-159: a `-` parent lists several collections with one token; `return_partial_success` is
    /// accepted and `unreachable` stays empty (one consistent store: docs/API.md, "Partial success").
    @Test func aWildcardListsAcrossCollectionsAndPartialSuccessIsAccepted() async throws {
        try await Harness.with { h in
            var created: [String] = []
            for index in 0..<5 {
                for parent in ["tenants/b", "", "tenants/a"] { created.append(try await h.create(id: "op-\(index)", parent: parent).name) }
            }
            var request = Google_Longrunning_ListOperationsRequest()
            request.name = "tenants/-/operations"
            request.pageSize = 3
            request.returnPartialSuccess = true
            var names: [String] = []
            var pages = 0
            repeat {
                let page = try await h.operations.listOperations(request)
                #expect(page.unreachable.isEmpty)
                names += page.operations.map(\.name)
                request.pageToken = page.nextPageToken
                pages += 1
            } while !request.pageToken.isEmpty && pages < 100
            #expect(names == created.filter { $0.hasPrefix("tenants/") })
            #expect(try await h.operations.listOperations(.with { $0.name = "-"; $0.pageSize = 100; $0.returnPartialSuccess = true }).operations.map(\.name) == created)

            let collections = try await h.admin.listCollections(.with { $0.pageSize = 2 })
            #expect(collections.collections == ["operations", "tenants/a/operations"])
            let rest = try await h.admin.listCollections(.with { $0.pageToken = collections.nextPageToken })
            #expect(rest.collections == ["tenants/b/operations"] && rest.nextPageToken.isEmpty)
            await expectRPCError(.invalidArgument, reason: "INVALID_NAME") {
                _ = try await h.operations.listOperations(.with { $0.name = "-/a/operations" })
            }
        }
    }

    @Test func waitReturnsWhenAProducerCompletes() async throws {
        try await Harness.with { h in
            let op = try await h.create()
            async let waited = h.operations.waitOperation(.with {
                $0.name = op.name
                $0.timeout = .init(seconds: 30)
            })
            try await Task.sleep(for: .milliseconds(50))
            _ = try await h.complete(op.name, response: any(Google_Protobuf_StringValue("built")))
            let done = try await waited
            #expect(done.done)
            #expect(try Google_Protobuf_StringValue(unpackingAny: done.response).value == "built")
        }
    }

    @Test func waitReturnsTheCurrentStateAtItsTimeout() async throws {
        try await Harness.with { h in
            let op = try await h.create(metadata: any(Google_Protobuf_StringValue("working")))
            let state = try await h.operations.waitOperation(.with {
                $0.name = op.name
                $0.timeout = .init(seconds: 0, nanos: 100_000_000)
            })
            #expect(!state.done)
            #expect(state.metadata == op.metadata)
            await expectRPCError(.invalidArgument, reason: "INVALID_TIMEOUT") {
                _ = try await h.operations.waitOperation(.with {
                    $0.name = op.name
                    $0.timeout = .init(seconds: -1)
                })
            }
        }
    }

    /// The wait ends before the call's deadline by 20% of the time left, at least 10 ms and at
    /// most 5 s; the request's own timeout and the server's limit bound it too.
    @Test(arguments: [
        (deadline: Duration.milliseconds(5), timeout: Duration.seconds(30), expected: Duration.zero),
        (deadline: .milliseconds(100), timeout: .seconds(30), expected: .milliseconds(80)),
        (deadline: .seconds(10), timeout: .seconds(30), expected: .seconds(8)),
        (deadline: .seconds(60), timeout: .seconds(300), expected: .seconds(55)),
        (deadline: .seconds(60), timeout: .seconds(2), expected: .seconds(2)),
    ])
    func aWaitEndsBeforeTheDeadlineByItsMargin(deadline: Duration, timeout: Duration, expected: Duration) throws {
        let request = Google_Longrunning_WaitOperationRequest.with {
            $0.name = "operations/a"
            $0.timeout = Google_Protobuf_Duration(rounding: timeout)
        }
        let before = ContinuousClock.now
        let waited = try OperationsService.waitTimeout(request, deadline: before + deadline, maximumWait: .seconds(3600))
        // The rule reads the clock again: what it finds left is less by up to the time this took.
        let took = ContinuousClock.now - before
        #expect(waited <= expected && waited >= expected - took, "\(waited) for a deadline in \(deadline), \(took) to compute")
        #expect(try OperationsService.waitTimeout(request, deadline: nil, maximumWait: .seconds(1)) == min(timeout, .seconds(1)))
    }

    @Test func aDeadlineShorterThanTheTimeoutStillGetsTheStateInTime() async throws {
        try await Harness.with { h in
            let op = try await h.create()
            var options = CallOptions.defaults
            // 20 s: the server keeps 4 s (20%) for the request's and the reply's way. A test
            // process running every suite at once on two cores once took over 1 s to send it.
            options.timeout = .seconds(20)
            let started = ContinuousClock.now
            let state = try await h.operations.waitOperation(.with {
                $0.name = op.name
                $0.timeout = .init(seconds: 30)
            }, options: options)
            #expect(!state.done)
            #expect(ContinuousClock.now - started < .seconds(20))
            #expect(ContinuousClock.now - started >= .seconds(14), "answered at the deadline's margin, not at once")
        }
    }
}
