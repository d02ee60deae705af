/// `google.rpc.ErrorInfo` as data, for the errors the engine ends operations with itself (an
/// expired lease): the domain has no protobuf runtime, so ``payload`` encodes it by hand.
public struct ErrorInfo: Hashable, Sendable {
    public static let typeURL = "type.googleapis.com/google.rpc.ErrorInfo"

    /// UPPER_SNAKE, e.g. `PRODUCER_LEASE_EXPIRED`.
    public var reason: String
    public var domain: String
    public var metadata: [String: String]

    /// Any domain's info, as it travels.
    public init(reason: String, domain: String, metadata: [String: String] = [:]) {
        self.reason = reason
        self.domain = domain
        self.metadata = metadata
    }

    /// Longrun's own info: one of its reasons, in its domain.
    public init(reason: DomainError.Reason, metadata: [String: String] = [:]) {
        self.init(reason: reason.rawValue, domain: DomainError.errorDomain, metadata: metadata)
    }

    /// `message ErrorInfo { string reason = 1; string domain = 2; map<string, string> metadata = 3; }`,
    /// the map's entries sorted by key so that the same info always has the same bytes.
    public var payload: Payload {
        var w = WireWriter(capacity: 64)
        w.string(1, reason)
        w.string(2, domain)
        for key in metadata.keys.sorted() {
            w.message(3) { entry in
                entry.string(1, key)
                entry.string(2, metadata[key]!)
            }
        }
        return Payload(typeURL: Self.typeURL, value: w.bytes)
    }
}
