import Logging
import LongrunDomain
import LongrunEngine
import LongrunWire
import SwiftProtobuf

let logger = Logger(label: "myapp")
let engine = try LongrunEngine(directory: "/var/lib/myapp/ops", logger: logger)
defer { engine.close() }
Task { try await engine.run() }          // enforces cancel grace periods and leases

let builder = Actor(label: "builder")
// Payloads are a type URL and bytes; LongrunWire converts protobuf messages to and from them.
let progress = Payload(try Google_Protobuf_Any(message: Google_Protobuf_StringValue("compiling")))
let result = Payload(try Google_Protobuf_Any(message: Google_Protobuf_StringValue("built")))

let op = try await engine.create(CreateRequest(id: "build-42"), actor: builder)
_ = try await engine.progress(op.name, metadata: progress, actor: builder)
_ = try await engine.complete(op.name, outcome: .response(result), actor: builder)
let done = try await engine.wait(op.name, timeout: .seconds(30))
print(done.name, done.outcome == .response(result))
