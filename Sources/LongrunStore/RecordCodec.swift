import LongrunDomain

/// Encodes and decodes the store's records (docs/FORMAT.md gives the .proto for each).
///
/// Every top-level record starts with `format_version = 1`; a reader refuses versions it does not
/// know instead of guessing, and skips unknown fields so additions stay compatible.
public enum RecordCodec {
    /// The record format this build writes.
    public static let formatVersion: UInt64 = 1

    // MARK: Shared messages

    /// `string request_id`: empty means none (docs/FORMAT.md), which is also what `encode` writes for nil.
    static func nonEmpty(_ text: String) -> String? { text.isEmpty ? nil : text }

    /// `google.protobuf.Any`
    static func encodePayload(_ payload: Payload, into w: inout WireWriter) {
        w.string(1, payload.typeURL)
        w.bytes(2, payload.value)
    }

    static func decodePayload(_ r: inout WireReader) throws(CodecError) -> Payload {
        var payload = Payload(typeURL: "", value: [])
        while let (f, t) = try r.nextField() {
            switch f {
            case 1: try r.expect(t, 2, field: f); payload.typeURL = try r.recurringString()
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
            case 3: try r.expect(t, 2, field: f); actor.label = try r.recurringString()
            case 4: try r.expect(t, 2, field: f); actor.host = nonEmpty(try r.recurringString())
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
