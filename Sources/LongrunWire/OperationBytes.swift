public import LongrunDomain

/// `google.longrunning.Operation`, `ListOperationsResponse` and
/// `longrun.v1.UpdateOperationResponse` written straight from the domain's states, for the answers
/// the server writes on the event loop (GetOperation, ListOperations, WaitOperation, the producers'
/// writes): the bytes SwiftProtobuf writes for ``OperationState/proto`` and for a response of
/// those (OperationBytesTests compares them over seeded random states; UnaryFastPathTests compares
/// each answer with grpc-swift's path), in one pass, without building a message per operation, an
/// `Any` per payload, or a pass that sizes them first. A ListOperations page of 100 spent over a
/// third of the daemon's time on those (BENCHMARKS.md, W3 over the socket).
///
/// The fields in field-number order, proto3 defaults left out, as SwiftProtobuf does:
/// `Operation { name = 1; Any metadata = 2; bool done = 3; oneof result { Status error = 4;
/// Any response = 5; } }`, `Any { type_url = 1; bytes value = 2; }`,
/// `Status { int32 code = 1; string message = 2; repeated Any details = 3; }`,
/// `ListOperationsResponse { repeated Operation operations = 1; string next_page_token = 2; }`,
/// `UpdateOperationResponse { Operation operation = 1; uint64 version = 2;
/// bool cancel_requested = 3; }`.
extension OperationState {
    /// This state as a serialized `google.longrunning.Operation`.
    public var operationBytes: [UInt8] {
        var writer = WireWriter(capacity: 64 + (metadata?.value.count ?? 0))
        encodeOperation(into: &writer)
        return writer.bytes
    }

    /// This state as a serialized `longrun.v1.UpdateOperationResponse`: the operation, its version
    /// and whether its cancellation was requested (`ProducersService.updateResponse` as bytes).
    public var updateOperationResponseBytes: [UInt8] {
        var writer = WireWriter(capacity: 80 + (metadata?.value.count ?? 0))
        writer.message(1) { encodeOperation(into: &$0) }
        writer.uint(2, version)
        writer.uint(3, cancelRequest == nil ? 0 : 1)
        return writer.bytes
    }

    fileprivate func encodeOperation(into w: inout WireWriter) {
        w.string(1, name.description)
        if let metadata { w.message(2) { metadata.encodeAny(into: &$0) } }
        switch outcome {
        case .response(let payload)?:
            w.uint(3, 1)
            w.message(5) { payload.encodeAny(into: &$0) }
        case .error(let status)?:
            w.uint(3, 1)
            w.message(4) { status.encodeStatus(into: &$0) }
        case nil:
            break
        }
    }
}

/// A serialized `google.longrunning.ListOperationsResponse` of `operations`.
public func listOperationsResponseBytes(_ operations: [OperationState], nextPageToken: String) -> [UInt8] {
    let payloads = operations.reduce(0) { $0 + ($1.metadata?.value.count ?? 0) }
    var writer = WireWriter(capacity: 64 * operations.count + payloads + nextPageToken.utf8.count + 8)
    for operation in operations {
        writer.message(1) { operation.encodeOperation(into: &$0) }
    }
    writer.string(2, nextPageToken)
    return writer.bytes
}

extension Payload {
    /// The fields of a `google.protobuf.Any`.
    fileprivate func encodeAny(into w: inout WireWriter) {
        w.string(1, typeURL)
        w.bytes(2, value)
    }
}

extension Status {
    /// The fields of a `google.rpc.Status`.
    fileprivate func encodeStatus(into w: inout WireWriter) {
        w.int(1, Int64(code))
        w.string(2, message)
        for detail in details { w.message(3) { detail.encodeAny(into: &$0) } }
    }
}
