/// How a running operation reacts to a cancel request.
public enum CancellationPolicy: Hashable, Sendable {
    /// The producer sees the request and completes; if it has not within `grace` (nil: the engine's
    /// default), the engine completes the operation with CANCELLED.
    case cooperative(grace: Duration?)
    /// The engine completes the operation with CANCELLED at once.
    case immediate

    public static let `default` = CancellationPolicy.cooperative(grace: nil)
}

/// A fact in the log: one transition of one operation. Past tense; never changed once appended.
public struct Event: Hashable, Sendable {
    /// Position in the log, from 1, without gaps.
    public var sequence: UInt64
    /// When the engine decided it, from the injected clock.
    public var time: Timestamp
    public var name: OperationName
    public var actor: Actor
    public var kind: Kind

    // Inlinable, as ``OperationState``'s is, so that a decoder in another module builds the
    // event in place: compiled apart, the initializer copied every value in, its kind included.
    @inlinable
    public init(sequence: UInt64, time: Timestamp, name: OperationName, actor: Actor, kind: Kind) {
        self.sequence = sequence
        self.time = time
        self.name = name
        self.actor = actor
        self.kind = kind
    }

    public enum Kind: Hashable, Sendable {
        case created(Created)
        case progressed(metadata: Payload?)
        /// `graceDeadline`: when the engine will complete the operation with CANCELLED if the producer
        /// has not; nil for immediate cancellation (completed in the same batch).
        case cancelRequested(reason: String, graceDeadline: Timestamp?)
        case completed(Outcome)
        case deleted
        /// Retention removed a done operation whose time to live had passed. Like `deleted`, it is no
        /// longer served and its history stays.
        case expired
        /// A hold keeps the operation from expiring until it is released.
        case holdSet(reason: String)
        case holdReleased(reason: String)
        /// The operation's views (its state, index entries and history entries) were found damaged
        /// and rebuilt from its events; `detail` says what was wrong. Not a transition (see
        /// ``isTransition``).
        case repaired(detail: String)
        /// The lease's holder (or an administrator) said the producer is alive: the lease runs for
        /// its TTL again from this event. Not a transition (see ``isTransition``), so heartbeats
        /// never fail a producer's expected version; each one is still a logged event.
        case leaseRenewed
        /// The event's actor took the operation over from its previous holder (a restarted or
        /// replacement producer): it now holds the lease, for `leaseTTL` or, when nil, the TTL the
        /// lease had (an operation without a lease gets none). A transition.
        case adopted(leaseTTL: Duration?)

        /// A short lowercase word for logs and tables: `created`, `progressed`, ...
        public var label: String { tag.rawValue }

        /// Which kind this is, without its values.
        public var tag: Tag {
            switch self {
            case .created: .created
            case .progressed: .progressed
            case .cancelRequested: .cancelRequested
            case .completed: .completed
            case .deleted: .deleted
            case .expired: .expired
            case .holdSet: .holdSet
            case .holdReleased: .holdReleased
            case .repaired: .repaired
            case .leaseRenewed: .leaseRenewed
            case .adopted: .adopted
            }
        }

        /// The kinds without their values, named by their labels: the one table of the words that
        /// logs, `history` and `watch` print, so that a tool that reads events off the wire (which
        /// cannot build a ``Kind`` without its values) prints the same word as the engine's logs.
        public enum Tag: String, Hashable, Sendable, CaseIterable {
            case created
            case progressed
            case cancelRequested = "cancel_requested"
            case completed
            case deleted
            case expired
            case holdSet = "hold_set"
            case holdReleased = "hold_released"
            case repaired
            case leaseRenewed = "lease_renewed"
            case adopted
        }

        /// Whether the event is a transition of its operation: one that counts in
        /// ``OperationState/version`` and sets the update time. Holds, releases, repairs and lease
        /// renewals (heartbeats) are recorded in the history but are not, so they never fail a
        /// producer's expected version.
        public var isTransition: Bool {
            switch self {
            case .created, .progressed, .cancelRequested, .completed, .deleted, .expired, .adopted: true
            case .holdSet, .holdReleased, .repaired, .leaseRenewed: false
            }
        }
    }

    /// The version of the operation right after each of `events` (its own, oldest first), from
    /// `version`, its version before the first: each transition counts one (``Kind/isTransition``),
    /// as ``Lifecycle/apply(_:_:)`` counts them.
    public static func versions(of events: [Event], after version: UInt64) -> [UInt64] {
        var version = version
        return events.map { event in
            if event.kind.isTransition { version += 1 }
            return version
        }
    }

    /// The optionals are spelled `Optional<T>` for the reason ``OperationState``'s are: with the
    /// implicit `= nil` of a `T?` property, the inlined initializer builds the value and copies it out.
    public struct Created: Hashable, Sendable {
        public var metadata: Optional<Payload>
        public var requestID: Optional<String>
        public var cancellation: CancellationPolicy
        /// With a request id: the create request's fingerprint (``Command/Create/fingerprint``),
        /// so that a later reuse of the id with another request is told apart. Nil in events
        /// recorded before it was kept.
        public var requestFingerprint: Optional<UInt64>
        /// The lease the creator asked for: it holds the operation for this long after each sign
        /// of life (``OperationState/Lease``). Nil: no lease, the operation runs until completed.
        public var leaseTTL: Optional<Duration>

        @inlinable
        public init(metadata: Payload? = nil, requestID: String? = nil, cancellation: CancellationPolicy = .default,
                    requestFingerprint: UInt64? = nil, leaseTTL: Duration? = nil) {
            self.leaseTTL = leaseTTL
            self.metadata = metadata
            self.requestID = requestID
            self.cancellation = cancellation
            self.requestFingerprint = requestFingerprint
        }
    }

    /// An event that ``Lifecycle/decide(_:state:context:)`` wants appended; the store stamps
    /// sequence, time and name.
    public struct Draft: Hashable, Sendable {
        public var actor: Actor
        public var kind: Kind

        public init(actor: Actor, kind: Kind) {
            self.actor = actor
            self.kind = kind
        }
    }
}
