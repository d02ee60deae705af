public import LongrunDomain

/// Views: the `OperationRecord` of every operation (docs/FORMAT.md).
extension RecordCodec {
    public static func encode(_ state: OperationState) -> [UInt8] {
        var w = WireWriter(capacity: 160)
        encode(state, into: &w)
        return w.bytes
    }

    /// ``encode(_:)-(OperationState)`` appended to what `w` holds (replay writes each record after
    /// its checksum's place in one reused buffer: ``Checksum/seal(key:into:body:)``).
    static func encode(_ state: OperationState, into w: inout WireWriter) {
        w.uint(1, formatVersion)
        w.string(2, state.name.description)
        if let metadata = state.metadata { w.message(3) { encodePayload(metadata, into: &$0) } }
        if let outcome = state.outcome { w.message(4) { encodeOutcome(outcome, into: &$0) } }
        w.sint(6, state.createTime.nanosecondsSinceEpoch, always: true)
        w.sint(7, state.updateTime.nanosecondsSinceEpoch, always: true)
        if let end = state.endTime { w.sint(8, end.nanosecondsSinceEpoch, always: true) }
        w.message(9) { encodeActor(state.creator, into: &$0) }
        if let requestID = state.requestID { w.string(10, requestID) }
        w.message(11) { encodeCancellation(state.cancellation, into: &$0) }
        if let request = state.cancelRequest {
            w.message(12) { w in
                w.message(1) { encodeActor(request.actor, into: &$0) }
                w.sint(2, request.time.nanosecondsSinceEpoch, always: true)
                w.string(3, request.reason)
                if let deadline = request.graceDeadline { w.sint(4, deadline.nanosecondsSinceEpoch, always: true) }
            }
        }
        if let deletion = state.deletion {
            w.message(13) { w in
                w.message(1) { encodeActor(deletion.actor, into: &$0) }
                w.sint(2, deletion.time.nanosecondsSinceEpoch, always: true)
            }
        }
        if let expired = state.expireTime { w.sint(17, expired.nanosecondsSinceEpoch, always: true) }
        if let hold = state.hold {
            w.message(18) { w in
                w.message(1) { encodeActor(hold.actor, into: &$0) }
                w.sint(2, hold.time.nanosecondsSinceEpoch, always: true)
                w.string(3, hold.reason)
            }
        }
        w.uint(14, state.version)
        w.uint(15, state.createSequence)
        w.uint(16, state.lastSequence)
        if let fingerprint = state.requestFingerprint { w.uint(19, fingerprint, always: true) }
        if let lease = state.lease {
            w.message(20) { w in
                w.message(1) { encodeActor(lease.holder, into: &$0) }
                w.sint(2, lease.ttl.nanoseconds, always: true)
                w.sint(3, lease.expireTime.nanosecondsSinceEpoch, always: true)
            }
        }
    }

    public static func decodeState(_ buffer: UnsafeRawBufferPointer) throws(CodecError) -> OperationState {
        try decodeState(buffer, strings: nil)
    }

    /// The name in a state record (its UTF-8 bytes, borrowed from `buffer`) and whether it says
    /// the operation is done, read from the record's first fields without decoding the rest: a
    /// List page scanning records for a wildcard's collections asks it of every record it passes.
    /// `done` is true only when the outcome was found; reading stops at the first field past it,
    /// as the encoder writes fields in order, so a record written otherwise may say false.
    static func stateHead(_ buffer: UnsafeRawBufferPointer) throws(CodecError) -> (name: UnsafeRawBufferPointer, done: Bool) {
        var r = WireReader(buffer)
        var name: UnsafeRawBufferPointer?
        var done = false
        while let (field, type) = try r.nextField(), field <= 4 {
            switch field {
            case 2: try r.expect(type, 2, field: field); name = try r.lengthDelimited()
            case 4: done = true; try r.skip(type)
            default: try r.skip(type)
            }
            if done, name != nil { break }
        }
        guard let name else { throw CodecError(message: "operation record lacks its name") }
        return (name, done)
    }

    /// ``decodeState(_:)`` for a reader of many records (a List page): recurring strings (type
    /// URLs, actors) come from `strings`. With `nameAsStored`, for a record whose checksum the
    /// caller verified, the name's shape alone is checked (``OperationName/init(stored:)``).
    static func decodeState(_ buffer: UnsafeRawBufferPointer, strings: RecordStrings?, nameAsStored: Bool = false) throws(CodecError) -> OperationState {
        var r = WireReader(buffer, strings: strings)
        var version: UInt64 = 0
        var name: UnsafeRawBufferPointer?
        var metadata: Payload?
        var outcome: Outcome?
        var createTime: Int64 = 0, updateTime: Int64 = 0
        var endTime: Int64?
        var creator = Actor()
        var requestID: String?
        var requestFingerprint: UInt64?
        var cancellation = CancellationPolicy.default
        var cancelRequest: OperationState.CancelRequest?
        var deletion: OperationState.Deletion?
        var operationVersion: UInt64 = 0, createSequence: UInt64 = 0, lastSequence: UInt64 = 0
        var expireTime: Timestamp?
        var hold: OperationState.Hold?
        var lease: OperationState.Lease?
        while let (field, type) = try r.nextField() {
            switch field {
            case 1: try r.expect(type, 0, field: field); version = try r.uint()
            case 2: try r.expect(type, 2, field: field); name = try r.lengthDelimited()
            case 3: try r.expect(type, 2, field: field); var m = try r.message(); metadata = try decodePayload(&m)
            case 4: try r.expect(type, 2, field: field); var m = try r.message(); outcome = try decodeOutcome(&m)
            case 6: try r.expect(type, 0, field: field); createTime = try r.sint()
            case 7: try r.expect(type, 0, field: field); updateTime = try r.sint()
            case 8: try r.expect(type, 0, field: field); endTime = try r.sint()
            case 9: try r.expect(type, 2, field: field); var m = try r.message(); creator = try decodeActor(&m)
            case 10: try r.expect(type, 2, field: field); requestID = nonEmpty(try r.string())
            case 11: try r.expect(type, 2, field: field); var m = try r.message(); cancellation = try decodeCancellation(&m)
            case 12:
                try r.expect(type, 2, field: field)
                var m = try r.message()
                var request = OperationState.CancelRequest(actor: Actor(), time: Timestamp(nanosecondsSinceEpoch: 0), reason: "", graceDeadline: nil)
                while let (f, t) = try m.nextField() {
                    switch f {
                    case 1: try m.expect(t, 2, field: f); var a = try m.message(); request.actor = try decodeActor(&a)
                    case 2: try m.expect(t, 0, field: f); request.time = Timestamp(nanosecondsSinceEpoch: try m.sint())
                    case 3: try m.expect(t, 2, field: f); request.reason = try m.string()
                    case 4: try m.expect(t, 0, field: f); request.graceDeadline = Timestamp(nanosecondsSinceEpoch: try m.sint())
                    default: try m.skip(t)
                    }
                }
                cancelRequest = request
            case 13:
                try r.expect(type, 2, field: field)
                var m = try r.message()
                var record = OperationState.Deletion(actor: Actor(), time: Timestamp(nanosecondsSinceEpoch: 0))
                while let (f, t) = try m.nextField() {
                    switch f {
                    case 1: try m.expect(t, 2, field: f); var a = try m.message(); record.actor = try decodeActor(&a)
                    case 2: try m.expect(t, 0, field: f); record.time = Timestamp(nanosecondsSinceEpoch: try m.sint())
                    default: try m.skip(t)
                    }
                }
                deletion = record
            case 17: try r.expect(type, 0, field: field); expireTime = Timestamp(nanosecondsSinceEpoch: try r.sint())
            case 18:
                try r.expect(type, 2, field: field)
                var m = try r.message()
                var record = OperationState.Hold(actor: Actor(), time: Timestamp(nanosecondsSinceEpoch: 0), reason: "")
                while let (f, t) = try m.nextField() {
                    switch f {
                    case 1: try m.expect(t, 2, field: f); var a = try m.message(); record.actor = try decodeActor(&a)
                    case 2: try m.expect(t, 0, field: f); record.time = Timestamp(nanosecondsSinceEpoch: try m.sint())
                    case 3: try m.expect(t, 2, field: f); record.reason = try m.string()
                    default: try m.skip(t)
                    }
                }
                hold = record
            case 14: try r.expect(type, 0, field: field); operationVersion = try r.uint()
            case 15: try r.expect(type, 0, field: field); createSequence = try r.uint()
            case 16: try r.expect(type, 0, field: field); lastSequence = try r.uint()
            case 19: try r.expect(type, 0, field: field); requestFingerprint = try r.uint()
            case 20:
                try r.expect(type, 2, field: field)
                var m = try r.message()
                var record = OperationState.Lease(holder: Actor(), ttl: .zero, expireTime: Timestamp(nanosecondsSinceEpoch: 0))
                while let (f, t) = try m.nextField() {
                    switch f {
                    case 1: try m.expect(t, 2, field: f); var a = try m.message(); record.holder = try decodeActor(&a)
                    case 2: try m.expect(t, 0, field: f); record.ttl = .nanoseconds(try m.sint())
                    case 3: try m.expect(t, 0, field: f); record.expireTime = Timestamp(nanosecondsSinceEpoch: try m.sint())
                    default: try m.skip(t)
                    }
                }
                lease = record
            default: try r.skip(type)
            }
        }
        guard version == formatVersion else { throw CodecError(message: "unknown operation record format version \(version)") }
        guard let name else { throw CodecError(message: "operation record lacks its name") }
        let operationName: OperationName
        if nameAsStored, let stored = OperationName(stored: name) {
            operationName = stored
        } else {
            do { operationName = try OperationName(parsing: name) } catch { throw CodecError(message: "operation record has an invalid name: \(error.message)") }
        }
        return OperationState(
            name: operationName, metadata: metadata, outcome: outcome,
            createTime: Timestamp(nanosecondsSinceEpoch: createTime), updateTime: Timestamp(nanosecondsSinceEpoch: updateTime),
            endTime: endTime.map(Timestamp.init(nanosecondsSinceEpoch:)), creator: creator, requestID: requestID,
            cancellation: cancellation, cancelRequest: cancelRequest, deletion: deletion, expireTime: expireTime, hold: hold,
            version: operationVersion,
            createSequence: createSequence, lastSequence: lastSequence, requestFingerprint: requestFingerprint, lease: lease
        )
    }
}
