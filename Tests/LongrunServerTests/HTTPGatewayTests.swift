import Foundation
import GRPCCore
import LongrunProto
import LongrunServer
import LongrunTestSupport
import SwiftProtobuf
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The Operations API over HTTP/1.1 and JSON on the gateway's Unix socket, spoken byte by byte as
/// curl would, against a real server whose operations the gRPC clients create.
@Suite("HTTP/JSON gateway")
struct HTTPGatewayTests {
    @Test func getRendersTheOperationAsProto3JSON() async throws {
        try await Harness.withHTTP { h, http in
            var fields = Google_Protobuf_Struct()
            fields.fields["stage"] = Google_Protobuf_Value(stringValue: "build")
            let created = try await h.create(id: "build-1", metadata: any(fields))
            let reply = try await http.exchange("GET /v1/\(created.name) HTTP/1.1\r\nHost: localhost\r\n\r\n")
            #expect(reply.status == 200, "\(reply.body)")
            #expect(reply.headers["content-type"] == "application/json; charset=utf-8")
            let json = try reply.object()
            #expect(json["name"] as? String == "operations/build-1")
            // A well-known type renders as proto3 JSON does: the Struct's value is the object itself.
            let metadata = json["metadata"] as? [String: Any]
            #expect(metadata?["@type"] as? String == "type.googleapis.com/google.protobuf.Struct")
            #expect((metadata?["value"] as? [String: Any])?["stage"] as? String == "build")
            // The same operation as gRPC returns: read back, the JSON is that message.
            let overGRPC = try await h.operations.getOperation(.with { $0.name = created.name })
            var decoded = try Google_Longrunning_Operation(jsonString: reply.body)
            #expect(try Google_Protobuf_Struct(unpackingAny: decoded.metadata) == Google_Protobuf_Struct(unpackingAny: overGRPC.metadata))
            var expected = overGRPC
            decoded.clearMetadata()
            expected.clearMetadata()
            #expect(decoded == expected)
        }
    }

    @Test func anAnyOfATypeTheDaemonDoesNotKnowFallsBackToItsBytes() async throws {
        try await Harness.withHTTP { h, http in
            var unknown = Google_Protobuf_Any()
            unknown.typeURL = "type.googleapis.com/example.v1.BuildMetadata"
            unknown.value = Data([0x0A, 0x03, 0x61, 0x62, 0x63])
            let created = try await h.create(id: "opaque", metadata: unknown)
            _ = try await h.complete(created.name, response: any(Google_Protobuf_StringValue("done")))
            // SwiftProtobuf cannot render it (the reason for the fallback): prove it still throws.
            #expect(throws: (any Error).self) { _ = try unknown.jsonString() }
            let reply = try await http.exchange("GET /v1/operations/opaque HTTP/1.1\r\nHost: localhost\r\n\r\n")
            #expect(reply.status == 200, "\(reply.body)")
            let json = try reply.object()
            let metadata = json["metadata"] as? [String: Any]
            #expect(metadata?["@type"] as? String == unknown.typeURL)
            #expect(metadata?["value"] as? String == unknown.value.base64EncodedString())
            // The rest of the operation still renders by proto3 JSON, the known response included.
            #expect(json["done"] as? Bool == true)
            #expect((json["response"] as? [String: Any])?["value"] as? String == "done")
        }
    }

    @Test func listFiltersAndPagesToAnEmptyToken() async throws {
        try await Harness.withHTTP { h, http in
            for index in 0..<7 {
                let op = try await h.create(id: "op-\(index)", parent: "tenants/acme")
                if index % 2 == 0 { _ = try await h.complete(op.name, response: any(Google_Protobuf_StringValue("ok"))) }
            }
            _ = try await h.create(id: "elsewhere")
            var names: [String] = []
            var token = ""
            var pages = 0
            repeat {
                // lowerCamelCase and snake_case both, as the transcoding rules allow.
                let tokenParameter = pages % 2 == 0 ? "pageToken" : "page_token"
                let query = "filter=done%20%3D%20true&pageSize=2&\(tokenParameter)=\(token)"
                let reply = try await http.exchange("GET /v1/tenants/acme/operations?\(query) HTTP/1.1\r\nHost: localhost\r\n\r\n")
                #expect(reply.status == 200, "\(reply.body)")
                let json = try reply.object()
                names += (json["operations"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
                token = json["nextPageToken"] as? String ?? ""
                pages += 1
            } while !token.isEmpty && pages < 20
            #expect(names == [0, 2, 4, 6].map { "tenants/acme/operations/op-\($0)" })
            #expect(pages == 2)

            let all = try await http.exchange("GET /v1/operations?page_size=10 HTTP/1.1\r\nHost: localhost\r\n\r\n")
            #expect((try all.object()["operations"] as? [[String: Any]])?.compactMap { $0["name"] as? String } == ["operations/elsewhere"])
        }
    }

    @Test func cancelAndDeleteActThroughTheSameEngine() async throws {
        try await Harness.withHTTP { h, http in
            let immediate = try await h.create(id: "stop-me", immediate: true)
            let cancelled = try await http.exchange("POST /v1/\(immediate.name):cancel HTTP/1.1\r\nHost: localhost\r\n"
                + "Content-Type: application/json\r\nLongrun-Cancel-Reason: not needed\r\nContent-Length: 2\r\n\r\n{}")
            #expect(cancelled.status == 200, "\(cancelled.body)")
            #expect(cancelled.body == "{}")
            let afterCancel = try await h.operations.getOperation(.with { $0.name = immediate.name })
            #expect(afterCancel.done)
            #expect(afterCancel.error.code == 1)

            // An empty body is a cancel request too; cooperative operations stay running.
            let cooperative = try await h.create(id: "ask-me")
            let asked = try await http.exchange("POST /v1/operations/ask-me:cancel HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n")
            #expect(asked.status == 200, "\(asked.body)")
            #expect(try await !h.operations.getOperation(.with { $0.name = cooperative.name }).done)

            let deleted = try await http.exchange("DELETE /v1/operations/ask-me HTTP/1.1\r\nHost: localhost\r\n\r\n")
            #expect(deleted.status == 200, "\(deleted.body)")
            #expect(deleted.body == "{}")
            await expectRPCError(.notFound) { _ = try await h.operations.getOperation(.with { $0.name = cooperative.name }) }
        }
    }

    @Test func errorsTakeGooglesJSONShapeAndHTTPStatus() async throws {
        try await Harness.withHTTP { h, http in
            let missing = try await http.exchange("GET /v1/operations/nope HTTP/1.1\r\nHost: localhost\r\n\r\n")
            try expectError(missing, status: 404, code: "NOT_FOUND", reason: "OPERATION_NOT_FOUND")

            let badFilter = try await http.exchange("GET /v1/operations?filter=done%20%3D%20maybe HTTP/1.1\r\nHost: localhost\r\n\r\n")
            try expectError(badFilter, status: 400, code: "INVALID_ARGUMENT", reason: "INVALID_FILTER")

            let badSize = try await http.exchange("GET /v1/operations?pageSize=-1 HTTP/1.1\r\nHost: localhost\r\n\r\n")
            try expectError(badSize, status: 400, code: "INVALID_ARGUMENT", reason: "INVALID_PAGE_SIZE")

            let typo = try await http.exchange("GET /v1/operations?page_siz=3 HTTP/1.1\r\nHost: localhost\r\n\r\n")
            try expectError(typo, status: 400, code: "INVALID_ARGUMENT", reason: "INVALID_QUERY_PARAMETER")

            // Accepted (one consistent store: nothing is ever unreachable), as over gRPC.
            let partial = try await http.exchange("GET /v1/operations?returnPartialSuccess=true HTTP/1.1\r\nHost: localhost\r\n\r\n")
            #expect(partial.status == 200, "\(partial.body)")
            let notBoolean = try await http.exchange("GET /v1/operations?returnPartialSuccess=maybe HTTP/1.1\r\nHost: localhost\r\n\r\n")
            try expectError(notBoolean, status: 400, code: "INVALID_ARGUMENT", reason: "INVALID_QUERY_PARAMETER")

            _ = try await h.create(id: "body")
            let badBody = try await http.exchange("POST /v1/operations/body:cancel HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\n{nope")
            try expectError(badBody, status: 400, code: "INVALID_ARGUMENT", reason: "INVALID_JSON_BODY")

            for path in ["/", "/v1/", "/v2/operations", "/v1/things", "/v1/operations/x/builds", "/v1/operations/x:frobnicate", "/v1//operations"] {
                let unknown = try await http.exchange("GET \(path) HTTP/1.1\r\nHost: localhost\r\n\r\n")
                try expectError(unknown, status: 404, code: "NOT_FOUND", reason: "HTTP_ROUTE_NOT_FOUND")
            }

            let put = try await http.exchange("PUT /v1/operations/body HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n")
            try expectError(put, status: 405, code: "UNIMPLEMENTED", reason: "HTTP_METHOD_NOT_ALLOWED")
            #expect(put.headers["allow"] == "GET, DELETE")
            let getCancel = try await http.exchange("GET /v1/operations/body:cancel HTTP/1.1\r\nHost: localhost\r\n\r\n")
            #expect(getCancel.status == 405)
            #expect(getCancel.headers["allow"] == "POST")
            let postList = try await http.exchange("POST /v1/operations HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n")
            #expect(postList.status == 405)
            #expect(postList.headers["allow"] == "GET")
        }
    }

    @Test func anOversizedBodyIs413AndClosesTheConnection() async throws {
        try await Harness.withHTTP { h, http in
            _ = try await h.create(id: "big")
            // Announced too large: refused before the body is read.
            let announced = try await http.exchange("POST /v1/operations/big:cancel HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000000\r\n\r\n{")
            try expectError(announced, status: 413, code: "RESOURCE_EXHAUSTED", reason: "REQUEST_TOO_LARGE")
            #expect(announced.headers["connection"] == "close")
            // Chunked, so only counting the bytes finds it too large.
            let chunk = String(repeating: " ", count: 70_000)
            let streamed = try await http.exchange("POST /v1/operations/big:cancel HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
                + String(chunk.utf8.count, radix: 16) + "\r\n" + chunk + "\r\n0\r\n\r\n")
            try expectError(streamed, status: 413, code: "RESOURCE_EXHAUSTED", reason: "REQUEST_TOO_LARGE")
            #expect(try await !h.operations.getOperation(.with { $0.name = "operations/big" }).done)
        }
    }

    @Test func oneConnectionCarriesManyRequests() async throws {
        try await Harness.withHTTP { h, http in
            _ = try await h.create(id: "kept")
            let get = "GET /v1/operations/kept HTTP/1.1\r\nHost: localhost\r\n\r\n"
            // Pipelined on one keep-alive connection: answered in order; the last asks to close.
            let replies = try await http.exchange([get, "GET /v1/operations/gone HTTP/1.1\r\nHost: localhost\r\n\r\n",
                                                   "GET /v1/operations/kept HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"])
            #expect(replies.map(\.status) == [200, 404, 200])
            #expect(replies[0].headers["connection"] == nil)
            #expect(replies[2].headers["connection"] == "close")
        }
    }

    @Test func anIdleKeepAliveConnectionIsClosed() async throws {
        try await Harness.withHTTP(server: { $0.httpIdleTimeout = .seconds(2) }) { h, http in
            _ = try await h.create(id: "idle")
            // Answered and kept open; then, with nothing more sent, closed by the server.
            let closedAfter = try await http.exchangeThenAwaitClose("GET /v1/operations/idle HTTP/1.1\r\nHost: localhost\r\n\r\n")
            #expect(closedAfter.reply.status == 200)
            #expect(closedAfter.reply.headers["connection"] == nil)
            // Not sooner than asked would be a timing test on a busy machine; that it closes at all
            // (the default would be a minute) is what matters.
            #expect(closedAfter.closedWithin != nil, "still open 20 s after the answer")
        }
    }

    @Test func requestsAreCountedInTheRPCMetrics() async throws {
        let metrics = LongrunMetrics()
        try await Harness.withHTTP(server: { $0.metrics = metrics }) { h, http in
            let created = try await h.create(id: "counted")
            _ = try await http.exchange("GET /v1/operations/absent HTTP/1.1\r\nHost: localhost\r\n\r\n")
            _ = try await http.exchange("GET /v1/\(created.name) HTTP/1.1\r\nHost: localhost\r\n\r\n")
            _ = try await http.exchange("GET /v1/operations?pageSize=1 HTTP/1.1\r\nHost: localhost\r\n\r\n")
            let scraped = Exposition(metrics.expositionText())
            let service = "google.longrunning.Operations"
            #expect(scraped.value("longrun_rpc_requests_total", ["service": service, "method": "HTTP GetOperation", "code": "NOT_FOUND"]) == 1)
            #expect(scraped.value("longrun_rpc_requests_total", ["service": service, "method": "HTTP GetOperation", "code": "OK"]) == 1)
            #expect(scraped.value("longrun_rpc_requests_total", ["service": service, "method": "HTTP ListOperations", "code": "OK"]) == 1)
            // Over gRPC, only the harness's calls: the transports are told apart.
            #expect(scraped.value("longrun_rpc_requests_total", ["service": service, "method": "GetOperation", "code": "NOT_FOUND"]) == nil)
        }
    }

    /// The gateway's connections count among their uid's with its gRPC connections: past the
    /// limit, the request is answered 429 (RESOURCE_EXHAUSTED, TOO_MANY_CONNECTIONS) and the
    /// connection closed at once.
    @Test func aConnectionPastItsUidsLimitIsAnsweredTooManyRequestsAndClosed() async throws {
        try await Harness.withHTTP(server: { $0.maximumConnectionsPerPeer = 1 }) { h, http in
            // The harness's gRPC client holds the uid's one connection.
            let refused = try await http.exchangeThenAwaitClose("GET /v1/operations HTTP/1.1\r\nHost: localhost\r\n\r\n")
            try expectError(refused.reply, status: 429, code: "RESOURCE_EXHAUSTED", reason: "TOO_MANY_CONNECTIONS")
            #expect(refused.reply.headers["connection"] == "close")
            #expect(refused.closedWithin.map { $0 < .seconds(2) } == true, "closed within \(String(describing: refused.closedWithin))")
            _ = try await h.operations.listOperations(.with { $0.name = "operations" })
        }
    }

    private func expectError(_ reply: HTTPReply, status: Int, code: String, reason: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        #expect(reply.status == status, "\(reply.body)", sourceLocation: sourceLocation)
        let error = try #require(try reply.object()["error"] as? [String: Any], sourceLocation: sourceLocation)
        #expect(error["code"] as? Int == status, sourceLocation: sourceLocation)
        #expect(error["status"] as? String == code, sourceLocation: sourceLocation)
        #expect((error["message"] as? String)?.isEmpty == false, sourceLocation: sourceLocation)
        let details = error["details"] as? [[String: Any]] ?? []
        #expect(details.count == 1, "\(reply.body)", sourceLocation: sourceLocation)
        #expect(details.first?["@type"] as? String == "type.googleapis.com/google.rpc.ErrorInfo", sourceLocation: sourceLocation)
        #expect(details.first?["reason"] as? String == reason, "\(reply.body)", sourceLocation: sourceLocation)
        #expect(details.first?["domain"] as? String == "longrun.dev", sourceLocation: sourceLocation)
    }
}

extension Harness {
    /// A harness whose server also serves the HTTP gateway, on a socket in the harness's private
    /// (mode 0700) directory, and a client of it.
    static func withHTTP<R: Sendable>(
        server configureServer: @escaping (inout LongrunServer.Configuration) -> Void = { _ in },
        _ body: (Harness, HTTPSocketClient) async throws -> R
    ) async throws -> R {
        try await with(server: { configuration in
            let directory = configuration.socketPath[..<(configuration.socketPath.lastIndex(of: "/") ?? configuration.socketPath.startIndex)]
            configuration.httpSocketPath = directory + "/longrund-http.sock"
            configureServer(&configuration)
        }) { h in
            try await body(h, HTTPSocketClient(path: h.directory.child("longrund-http.sock")))
        }
    }
}

struct HTTPReply: Sendable {
    var status: Int
    /// Lowercased names.
    var headers: [String: String]
    var body: String

    func object() throws -> [String: Any] {
        guard let object = try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any] else {
            throw ClientError("not a JSON object: \(body)")
        }
        return object
    }
}

struct ClientError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A deliberately plain HTTP/1.1 client: raw bytes on a Unix socket, so the tests see exactly what
/// the gateway writes. Each exchange runs on a thread of its own: blocking reads stay off the
/// concurrency pool the server's handlers run on.
struct HTTPSocketClient: Sendable {
    let path: String

    func exchange(_ request: String) async throws -> HTTPReply {
        try await exchange([request])[0]
    }

    /// Writes every request on one connection, then reads one reply per request.
    func exchange(_ requests: [String]) async throws -> [HTTPReply] {
        try await exchange(requests, awaitClose: false).replies
    }

    /// One request; then, sending nothing more, how long until the server closes the connection
    /// (nil: not within 20 s).
    func exchangeThenAwaitClose(_ request: String) async throws -> (reply: HTTPReply, closedWithin: Duration?) {
        let result = try await exchange([request], awaitClose: true)
        return (result.replies[0], result.closedWithin)
    }

    private func exchange(_ requests: [String], awaitClose: Bool) async throws -> (replies: [HTTPReply], closedWithin: Duration?) {
        let path = self.path
        return try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(with: Result { try Self.blockingExchange(path: path, requests: requests, awaitClose: awaitClose) })
            }
        }
    }

    private static func blockingExchange(path: String, requests: [String], awaitClose: Bool) throws -> (replies: [HTTPReply], closedWithin: Duration?) {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ClientError("socket: \(errno)") }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 20, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8) + [0]) }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else { throw ClientError("connect \(path): \(errno)") }
        let bytes = Array(requests.joined().utf8)
        var sent = 0
        while sent < bytes.count {
            let written = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            // The server may answer (413) and close before reading everything: read what it said.
            guard written > 0 else { break }
            sent += written
        }
        var buffer: [UInt8] = []
        var replies: [HTTPReply] = []
        func fill() throws -> Bool {
            var chunk = [UInt8](repeating: 0, count: 65_536)
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count < 0 && errno == ECONNRESET { return false }
            guard count >= 0 else { throw ClientError("recv: \(errno)") }
            buffer += chunk[..<count]
            return count > 0
        }
        while replies.count < requests.count {
            var headEnd: Range<Int>?
            while true {
                if let range = find(Array("\r\n\r\n".utf8), in: buffer) { headEnd = range; break }
                guard try fill() else { throw ClientError("connection closed after \(replies.count) replies; partial: \(String(decoding: buffer, as: UTF8.self))") }
            }
            let head = String(decoding: buffer[..<headEnd!.lowerBound], as: UTF8.self)
            buffer.removeSubrange(..<headEnd!.upperBound)
            var lines = head.components(separatedBy: "\r\n")
            let statusLine = lines.removeFirst().split(separator: " ")
            guard statusLine.count >= 2, let status = Int(statusLine[1]) else { throw ClientError("bad status line in \(head)") }
            var headers: [String: String] = [:]
            for line in lines {
                guard let colon = line.firstIndex(of: ":") else { continue }
                headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
            let length = Int(headers["content-length"] ?? "0") ?? 0
            while buffer.count < length {
                guard try fill() else { throw ClientError("connection closed inside a body") }
            }
            replies.append(HTTPReply(status: status, headers: headers, body: String(decoding: buffer[..<length], as: UTF8.self)))
            buffer.removeSubrange(..<length)
        }
        guard awaitClose else { return (replies, nil) }
        let answered = ContinuousClock.now
        // recv returns 0 at the server's close, or fails with EAGAIN when SO_RCVTIMEO (20 s) passes.
        let closed = (try? fill()) == false
        return (replies, closed ? ContinuousClock.now - answered : nil)
    }

    private static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Range<Int>? {
        guard haystack.count >= needle.count else { return nil }
        for start in 0...(haystack.count - needle.count) where haystack[start..<(start + needle.count)].elementsEqual(needle) {
            return start..<(start + needle.count)
        }
        return nil
    }
}
