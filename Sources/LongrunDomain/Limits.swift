/// The largest things an operation may carry. Each is enforced with INVALID_ARGUMENT naming the
/// limit, before anything is written, so one oversized request never affects what is stored.
///
/// Together they keep every single `Operation` well under gRPC's default 4 MiB message limit,
/// which clients apply to what they receive.
public enum Limits {
    /// Metadata, a response, or an error (message plus details), each: 1 MiB.
    public static let maximumPayloadBytes = 1 << 20
    /// A type URL (`type.googleapis.com/...`).
    public static let maximumTypeURLBytes = 2048
    /// A cancel, hold or release reason.
    public static let maximumReasonBytes = 1024
    /// A lease's TTL: at least 1 s (a heartbeat per TTL/3 would otherwise flood the log), at most
    /// 24 h (a dead producer's operations end within a day).
    public static let leaseTTLRange: ClosedRange<Duration> = .seconds(1) ... .seconds(86_400)

    static func checkLeaseTTL(_ ttl: Duration?) throws(DomainError) {
        guard let ttl, !leaseTTLRange.contains(ttl) else { return }
        throw DomainError(.invalidArgument, reason: .invalidLease,
                          "a lease lasts 1s to 24h (86400s); \(ttl) is outside that")
    }

    static func check(_ payload: Payload?, _ what: String) throws(DomainError) {
        guard let payload else { return }
        guard payload.typeURL.utf8.count <= maximumTypeURLBytes else {
            throw tooLarge("\(what) type URL is \(payload.typeURL.utf8.count) bytes; the most is \(maximumTypeURLBytes)")
        }
        guard payload.value.count <= maximumPayloadBytes else {
            throw tooLarge("\(what) is \(payload.value.count) bytes; the most is \(maximumPayloadBytes) (1 MiB): store large results elsewhere and put a reference in the operation")
        }
    }

    static func check(_ outcome: Outcome) throws(DomainError) {
        switch outcome {
        case .response(let payload):
            try check(payload, "the response")
        case .error(let status):
            for detail in status.details where detail.typeURL.utf8.count > maximumTypeURLBytes {
                throw tooLarge("an error detail's type URL is \(detail.typeURL.utf8.count) bytes; the most is \(maximumTypeURLBytes)")
            }
            let size = status.message.utf8.count + status.details.reduce(0) { $0 + $1.value.count + $1.typeURL.utf8.count }
            guard size <= maximumPayloadBytes else {
                throw tooLarge("the error (message and details) is \(size) bytes; the most is \(maximumPayloadBytes) (1 MiB)")
            }
        }
    }

    static func checkReason(_ reason: String) throws(DomainError) {
        guard reason.utf8.count <= maximumReasonBytes else {
            throw tooLarge("the reason is \(reason.utf8.count) bytes; the most is \(maximumReasonBytes)")
        }
    }

    private static func tooLarge(_ message: String) -> DomainError {
        DomainError(.invalidArgument, reason: .payloadTooLarge, message)
    }
}
