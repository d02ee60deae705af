import LongrunClient
import SwiftProtobuf

// A producer: creates an operation, reports progress, and completes it with what `run` returns
// (a cancel request cancels the work, and the operation ends CANCELLED).
let created = try await withLongrunClient(actor: "builder") { client in
    let producer = try await client.createOperation(CreateOperationOptions(operationID: "build-42"))
    return try await producer.run { producer in
        for step in 1...3 {
            _ = try await producer.progress(metadata: Google_Protobuf_StringValue("step \(step) of 3"))
        }
        return Google_Protobuf_StringValue("built")
    }
}

// A consumer: waits for the operation and reads its response as the type it expects.
let response = try await withLongrunClient { client in
    let build = client.operation(created.name, response: Google_Protobuf_StringValue.self, metadata: Google_Protobuf_StringValue.self)
    return try await build.result(timeout: .seconds(60))
}
print(response.value)
