public import LongrunDomain

/// Events: the `LogRecord` of every log entry (docs/FORMAT.md).
extension RecordCodec {
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
        try decodeEvent(buffer, strings: nil, resolveName: eventName)
    }

    /// An event's name from its stored bytes: what `resolveName` does for a reader that keeps no names.
    static func eventName(_ bytes: UnsafeRawBufferPointer) throws(CodecError) -> OperationName {
        do throws(DomainError) { return try OperationName(parsing: bytes) } catch { throw CodecError(message: "event has an invalid name: \(error.message)") }
    }

    /// ``decodeEvent(_:)`` for a reader of many events (replay): recurring strings come from
    /// `strings`, and `resolveName` turns the name's bytes (valid only during the call) into the
    /// name, so that a reader that met the operation before shares its name instead of parsing it
    /// again.
    ///
    /// With `expectedSequence`, an event that claims another sequence is refused before it is built
    /// (so that a reader returns the decoded event as it is, without holding it to check it).
    static func decodeEvent(_ buffer: UnsafeRawBufferPointer, strings: RecordStrings?, expectedSequence: UInt64? = nil,
                            resolveName: (UnsafeRawBufferPointer) throws(CodecError) -> OperationName) throws(CodecError) -> Event {
        var r = WireReader(buffer, strings: strings)
        var version: UInt64 = 0
        var sequence: UInt64 = 0
        var time: Int64 = 0
        var name: UnsafeRawBufferPointer?
        var actor = Actor()
        var kind: Event.Kind?
        while let (field, type) = try r.nextField() {
            switch field {
            case 1: try r.expect(type, 0, field: field); version = try r.uint()
            case 2: try r.expect(type, 0, field: field); sequence = try r.uint()
            case 3: try r.expect(type, 0, field: field); time = try r.sint()
            case 4: try r.expect(type, 2, field: field); name = try r.lengthDelimited()
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
        // Taken out, not bound: binding the optional copied the kind (its payload's retains).
        guard let name, let kind = kind.take() else { throw CodecError(message: "event lacks its name or kind") }
        let resolved = try resolveName(name)
        if let expectedSequence, sequence != expectedSequence { throw CodecError(message: "it claims sequence \(sequence)") }
        return Event(sequence: sequence, time: Timestamp(nanosecondsSinceEpoch: time), name: resolved, actor: actor, kind: kind)
    }
}
