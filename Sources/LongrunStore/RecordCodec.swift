import LongrunDomain

/// Encodes and decodes the store's records (docs/FORMAT.md gives the .proto for each).
///
/// Every top-level record starts with `format_version = 1`; a reader refuses versions it does not
/// know instead of guessing, and skips unknown fields so additions stay compatible.
public enum RecordCodec {
    /// The record format this build writes.
    public static let formatVersion: UInt64 = 1

    // MARK: Events (`LogRecord`)

    public static func encode(_ event: Event) -> [UInt8] {
        var w = WireWriter(capacity: 96)
        w.uint(1, formatVersion)
        w.uint(2, event.sequence)
        w.sint(3, event.time.nanosecondsSinceEpoch, always: true)
        w.string(4, event.name.description)
        w.message(5) { encodeActor(event.actor, into: &$0) }
        switch event.kind {
        case .created(let created):
            w.message(10) { w in
                if let metadata = created.metadata { w.message(1) { encodePayload(metadata, into: &$0) } }
                if let requestID = created.requestID { w.string(2, requestID) }
                w.message(3) { encodeCancellation(created.cancellation, into: &$0) }
                if let fingerprint = created.requestFingerprint { w.uint(4, fingerprint, always: true) }
                if let ttl = created.leaseTTL { w.sint(5, ttl.nanoseconds, always: true) }
            }
        case .progressed(let metadata):
            w.message(11) { w in
                if let metadata { w.message(1) { encodePayload(metadata, into: &$0) } }
            }
        case .cancelRequested(let reason, let deadline):
            w.message(12) { w in
                w.string(1, reason)
                if let deadline { w.sint(2, deadline.nanosecondsSinceEpoch, always: true) }
            }
        case .completed(let outcome):
            w.message(13) { encodeOutcome(outcome, into: &$0) }
        case .deleted:
            w.message(14) { _ in }
        case .expired:
            w.message(15) { _ in }
        case .holdSet(let reason):
            w.message(16) { $0.string(1, reason) }
        case .holdReleased(let reason):
            w.message(17) { $0.string(1, reason) }
        case .repaired(let detail):
            w.message(18) { $0.string(1, detail) }
        case .leaseRenewed:
            w.message(19) { _ in }
        case .adopted(let ttl):
            w.message(20) { w in
                if let ttl { w.sint(1, ttl.nanoseconds, always: true) }
            }
        }
        return w.bytes
    }

    /// `message { string reason = 1; }`
    private static func decodeReason(_ r: inout WireReader) throws(CodecError) -> String {
        var m = try r.message()
        var reason = ""
        while let (f, t) = try m.nextField() {
            if f == 1 { try m.expect(t, 2, field: f); reason = try m.string() } else { try m.skip(t) }
        }
        return reason
    }

    public static func decodeEvent(_ buffer: UnsafeRawBufferPointer) throws(CodecError) -> Event {
        var r = WireReader(buffer)
        var version: UInt64 = 0
        var sequence: UInt64 = 0
        var time: Int64 = 0
        var name: String?
        var actor = Actor()
        var kind: Event.Kind?
        while let (field, type) = try r.nextField() {
            switch field {
            case 1: try r.expect(type, 0, field: field); version = try r.uint()
            case 2: try r.expect(type, 0, field: field); sequence = try r.uint()
            case 3: try r.expect(type, 0, field: field); time = try r.sint()
            case 4: try r.expect(type, 2, field: field); name = try r.string()
            case 5: try r.expect(type, 2, field: field); var m = try r.message(); actor = try decodeActor(&m)
            case 10:
                try r.expect(type, 2, field: field)
                var m = try r.message()
                var created = Event.Created()
                while let (f, t) = try m.nextField() {
                    switch f {
                    case 1: try m.expect(t, 2, field: f); var p = try m.message(); created.metadata = try decodePayload(&p)
                    case 2: try m.expect(t, 2, field: f); created.requestID = nonEmpty(try m.string())
                    case 3: try m.expect(t, 2, field: f); var c = try m.message(); created.cancellation = try decodeCancellation(&c)
                    case 4: try m.expect(t, 0, field: f); created.requestFingerprint = try m.uint()
                    case 5: try m.expect(t, 0, field: f); created.leaseTTL = .nanoseconds(try m.sint())
                    default: try m.skip(t)
                    }
                }
                kind = .created(created)
            case 11:
                try r.expect(type, 2, field: field)
                var m = try r.message()
                var metadata: Payload?
                while let (f, t) = try m.nextField() {
                    if f == 1 { try m.expect(t, 2, field: f); var p = try m.message(); metadata = try decodePayload(&p) } else { try m.skip(t) }
                }
                kind = .progressed(metadata: metadata)
            case 12:
                try r.expect(type, 2, field: field)
                var m = try r.message()
                var reason = ""
                var deadline: Timestamp?
                while let (f, t) = try m.nextField() {
                    switch f {
                    case 1: try m.expect(t, 2, field: f); reason = try m.string()
                    case 2: try m.expect(t, 0, field: f); deadline = Timestamp(nanosecondsSinceEpoch: try m.sint())
                    default: try m.skip(t)
                    }
                }
                kind = .cancelRequested(reason: reason, graceDeadline: deadline)
            case 13:
                try r.expect(type, 2, field: field)
                var m = try r.message()
                kind = .completed(try decodeOutcome(&m))
            case 14:
                try r.expect(type, 2, field: field)
                _ = try r.message()
                kind = .deleted
            case 15:
                try r.expect(type, 2, field: field)
                _ = try r.message()
                kind = .expired
            case 16:
                try r.expect(type, 2, field: field)
                kind = .holdSet(reason: try decodeReason(&r))
            case 17:
                try r.expect(type, 2, field: field)
                kind = .holdReleased(reason: try decodeReason(&r))
            case 18:
                try r.expect(type, 2, field: field)
                kind = .repaired(detail: try decodeReason(&r))
            case 19:
                try r.expect(type, 2, field: field)
                _ = try r.message()
                kind = .leaseRenewed
            case 20:
                try r.expect(type, 2, field: field)
                var m = try r.message()
                var ttl: Duration?
                while let (f, t) = try m.nextField() {
                    if f == 1 { try m.expect(t, 0, field: f); ttl = .nanoseconds(try m.sint()) } else { try m.skip(t) }
                }
                kind = .adopted(leaseTTL: ttl)
            default:
                try r.skip(type)
            }
        }
        guard version == formatVersion else { throw CodecError(message: "unknown event format version \(version)") }
        guard let name, let kind else { throw CodecError(message: "event lacks its name or kind") }
        let operationName: OperationName
        do { operationName = try OperationName(parsing: name) } catch { throw CodecError(message: "event has an invalid name: \(error.message)") }
        return Event(sequence: sequence, time: Timestamp(nanosecondsSinceEpoch: time), name: operationName, actor: actor, kind: kind)
    }

    // MARK: Views (`OperationRecord`)

    public static func encode(_ state: OperationState) -> [UInt8] {
        var w = WireWriter(capacity: 160)
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
        return w.bytes
    }

    public static func decodeState(_ buffer: UnsafeRawBufferPointer) throws(CodecError) -> OperationState {
        var r = WireReader(buffer)
        var version: UInt64 = 0
        var name: String?
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
            case 2: try r.expect(type, 2, field: field); name = try r.string()
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
        do { operationName = try OperationName(parsing: name) } catch { throw CodecError(message: "operation record has an invalid name: \(error.message)") }
        return OperationState(
            name: operationName, metadata: metadata, outcome: outcome,
            createTime: Timestamp(nanosecondsSinceEpoch: createTime), updateTime: Timestamp(nanosecondsSinceEpoch: updateTime),
            endTime: endTime.map(Timestamp.init(nanosecondsSinceEpoch:)), creator: creator, requestID: requestID,
            cancellation: cancellation, cancelRequest: cancelRequest, deletion: deletion, expireTime: expireTime, hold: hold,
            version: operationVersion,
            createSequence: createSequence, lastSequence: lastSequence, requestFingerprint: requestFingerprint, lease: lease
        )
    }

    // MARK: Shared messages

    /// `string request_id`: empty means none (docs/FORMAT.md), which is also what `encode` writes for nil.
    private static func nonEmpty(_ text: String) -> String? { text.isEmpty ? nil : text }

    /// `google.protobuf.Any`
    static func encodePayload(_ payload: Payload, into w: inout WireWriter) {
        w.string(1, payload.typeURL)
        w.bytes(2, payload.value)
    }

    static func decodePayload(_ r: inout WireReader) throws(CodecError) -> Payload {
        var payload = Payload(typeURL: "", value: [])
        while let (f, t) = try r.nextField() {
            switch f {
            case 1: try r.expect(t, 2, field: f); payload.typeURL = try r.string()
            case 2: try r.expect(t, 2, field: f); payload.value = try r.bytes()
            default: try r.skip(t)
            }
        }
        return payload
    }

    /// `oneof result { Any response = 1; google.rpc.Status error = 2; }`
    static func encodeOutcome(_ outcome: Outcome, into w: inout WireWriter) {
        switch outcome {
        case .response(let payload):
            w.message(1) { encodePayload(payload, into: &$0) }
        case .error(let status):
            w.message(2) { w in
                w.int(1, Int64(status.code))
                w.string(2, status.message)
                for detail in status.details { w.message(3) { encodePayload(detail, into: &$0) } }
            }
        }
    }

    static func decodeOutcome(_ r: inout WireReader) throws(CodecError) -> Outcome {
        var outcome: Outcome?
        while let (f, t) = try r.nextField() {
            switch f {
            case 1:
                try r.expect(t, 2, field: f)
                var m = try r.message()
                outcome = .response(try decodePayload(&m))
            case 2:
                try r.expect(t, 2, field: f)
                var m = try r.message()
                var status = Status(code: 0, message: "")
                while let (sf, st) = try m.nextField() {
                    switch sf {
                    case 1: try m.expect(st, 0, field: sf); status.code = Int32(truncatingIfNeeded: try m.int())
                    case 2: try m.expect(st, 2, field: sf); status.message = try m.string()
                    case 3: try m.expect(st, 2, field: sf); var d = try m.message(); status.details.append(try decodePayload(&d))
                    default: try m.skip(st)
                    }
                }
                outcome = .error(status)
            default:
                try r.skip(t)
            }
        }
        guard let outcome else { throw CodecError(message: "completion has neither a response nor an error") }
        return outcome
    }

    static func encodeActor(_ actor: Actor, into w: inout WireWriter) {
        if let uid = actor.uid { w.uint(1, UInt64(uid), always: true) }
        if let pid = actor.pid { w.int(2, Int64(pid), always: true) }
        w.string(3, actor.label)
        if let host = actor.host { w.string(4, host) }
    }

    static func decodeActor(_ r: inout WireReader) throws(CodecError) -> Actor {
        var actor = Actor()
        while let (f, t) = try r.nextField() {
            switch f {
            case 1: try r.expect(t, 0, field: f); actor.uid = UInt32(truncatingIfNeeded: try r.uint())
            case 2: try r.expect(t, 0, field: f); actor.pid = Int32(truncatingIfNeeded: try r.int())
            case 3: try r.expect(t, 2, field: f); actor.label = try r.string()
            case 4: try r.expect(t, 2, field: f); actor.host = nonEmpty(try r.string())
            default: try r.skip(t)
            }
        }
        return actor
    }

    /// `Cancellation { Mode mode = 1; optional sint64 grace_nanos = 2; }` (mode 0 cooperative, 1 immediate)
    static func encodeCancellation(_ policy: CancellationPolicy, into w: inout WireWriter) {
        switch policy {
        case .immediate:
            w.uint(1, 1)
        case .cooperative(let grace):
            if let grace { w.sint(2, grace.nanoseconds, always: true) }
        }
    }

    static func decodeCancellation(_ r: inout WireReader) throws(CodecError) -> CancellationPolicy {
        var mode: UInt64 = 0
        var grace: Duration?
        while let (f, t) = try r.nextField() {
            switch f {
            case 1: try r.expect(t, 0, field: f); mode = try r.uint()
            case 2: try r.expect(t, 0, field: f); grace = .nanoseconds(try r.sint())
            default: try r.skip(t)
            }
        }
        return mode == 1 ? .immediate : .cooperative(grace: grace)
    }
}
