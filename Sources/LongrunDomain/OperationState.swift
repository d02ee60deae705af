/// The folded state of one operation: what Get returns and what the views store.
///
/// The optional properties are spelled `Optional<T>`, not `T?`: a `T?` property gets an implicit
/// `= nil` that the initializer, inlined into another module (a decoder), runs through a call
/// before assigning the real value, after which the optimizer builds the state and then copies it
/// out (a retain and a release of every field, for every record a List page or replay decodes).
public struct OperationState: Hashable, Sendable {
    public var name: OperationName
    public var metadata: Optional<Payload>
    /// Set exactly when the operation is done.
    public var outcome: Optional<Outcome>
    public var createTime: Timestamp
    public var updateTime: Timestamp
    public var endTime: Optional<Timestamp>
    /// The actor of `created`: the owner.
    public var creator: Actor
    public var requestID: Optional<String>
    public var cancellation: CancellationPolicy
    public var cancelRequest: Optional<CancelRequest> {
        get { boxedCancelRequest?.value }
        set { boxedCancelRequest = newValue.map(Boxed.init) }
    }
    public var deletion: Optional<Deletion> {
        get { boxedDeletion?.value }
        set { boxedDeletion = newValue.map(Boxed.init) }
    }
    /// Set when retention expired the operation.
    public var expireTime: Optional<Timestamp>
    /// Set while a hold keeps the operation from expiring.
    public var hold: Optional<Hold> {
        get { boxedHold?.value }
        set { boxedHold = newValue.map(Boxed.init) }
    }
    /// Number of transitions so far (1 after creation). Progress can require an expected version.
    /// Holds, releases and repairs are recorded in the history but are not transitions: they leave it alone.
    public var version: UInt64
    /// Sequence of the `created` event: the operation's position in creation order.
    public var createSequence: UInt64
    /// The fingerprint of the create request, when it had a request id (see ``Event/Created``).
    public var requestFingerprint: Optional<UInt64>
    /// Sequence of the newest event of this operation.
    public var lastSequence: UInt64
    /// While a running operation is held under a lease: who holds it and until when. Nil for
    /// operations created without one, and for every done operation.
    public var lease: Optional<Lease> {
        get { boxedLease?.value }
        set { boxedLease = newValue.map(Boxed.init) }
    }

    // The parts most states lack, each behind a reference (``Boxed``): nil, each costs a state 8
    // bytes rather than its own 56 to 81, so a state is 296 bytes rather than 552, which a List
    // page copies and frees 100 of (BENCHMARKS.md, W3).
    @usableFromInline var boxedCancelRequest: Optional<Boxed<CancelRequest>>
    @usableFromInline var boxedDeletion: Optional<Boxed<Deletion>>
    @usableFromInline var boxedHold: Optional<Boxed<Hold>>
    @usableFromInline var boxedLease: Optional<Boxed<Lease>>

    /// A producer's claim on a running operation: renewed by each progress, heartbeat or adoption;
    /// when it expires the engine completes the operation with ABORTED (``Lifecycle``).
    public struct Lease: Hashable, Sendable {
        /// Who holds it: the creator, or the last actor that adopted the operation.
        public var holder: Actor
        public var ttl: Duration
        /// The last renewal plus ``ttl``. The engine lets no lease expire sooner than ``ttl`` after
        /// it started (``Lifecycle/leaseExpiry(_:engineStart:)``).
        public var expireTime: Timestamp

        public init(holder: Actor, ttl: Duration, expireTime: Timestamp) {
            self.holder = holder
            self.ttl = ttl
            self.expireTime = expireTime
        }
    }

    public struct CancelRequest: Hashable, Sendable {
        public var actor: Actor
        public var time: Timestamp
        public var reason: String
        public var graceDeadline: Timestamp?

        public init(actor: Actor, time: Timestamp, reason: String, graceDeadline: Timestamp?) {
            self.actor = actor
            self.time = time
            self.reason = reason
            self.graceDeadline = graceDeadline
        }
    }

    public struct Deletion: Hashable, Sendable {
        public var actor: Actor
        public var time: Timestamp

        public init(actor: Actor, time: Timestamp) {
            self.actor = actor
            self.time = time
        }
    }

    public struct Hold: Hashable, Sendable {
        public var actor: Actor
        public var time: Timestamp
        public var reason: String

        public init(actor: Actor, time: Timestamp, reason: String) {
            self.actor = actor
            self.time = time
            self.reason = reason
        }
    }

    public var done: Bool { outcome != nil }
    /// Drops the metadata and the result's payload (a response's message, an error's message and
    /// details), keeping whether it succeeded and the error's code: what a tombstone keeps. A
    /// deleted or expired operation is never read back (NOT_FOUND), and every payload it had stays
    /// in its events, in the log and its history; its view only says the name was used, and by
    /// whom (fold revision 3).
    public mutating func dropPayloads() {
        metadata = nil
        switch outcome {
        case .response?: outcome = .response(Payload(typeURL: "", value: []))
        case .error(let status)?: outcome = .error(Status(code: status.code, message: ""))
        case nil: break
        }
    }

    /// Deleted, or expired by retention: no longer served, history kept, name not reused while it is
    /// (``Lifecycle/isForgotten(_:compactedThrough:)``).
    public var isDeleted: Bool { deletion != nil || expireTime != nil }
    /// Cancellation was requested and the operation has not finished yet.
    public var isCancelPending: Bool { cancelRequest != nil && outcome == nil }

    // Inlinable so that a decoder in another module builds the state in place (see the type's
    // comment): compiled apart, the initializer built it and then copied it out.
    @inlinable
    public init(
        name: OperationName, metadata: Payload?, outcome: Outcome?, createTime: Timestamp, updateTime: Timestamp,
        endTime: Timestamp?, creator: Actor, requestID: String?, cancellation: CancellationPolicy,
        cancelRequest: CancelRequest?, deletion: Deletion?, expireTime: Timestamp? = nil, hold: Hold? = nil,
        version: UInt64, createSequence: UInt64, lastSequence: UInt64, requestFingerprint: UInt64? = nil, lease: Lease? = nil
    ) {
        self.boxedLease = lease.map(Boxed.init)
        self.requestFingerprint = requestFingerprint
        self.name = name
        self.metadata = metadata
        self.outcome = outcome
        self.createTime = createTime
        self.updateTime = updateTime
        self.endTime = endTime
        self.creator = creator
        self.requestID = requestID
        self.cancellation = cancellation
        self.boxedCancelRequest = cancelRequest.map(Boxed.init)
        self.boxedDeletion = deletion.map(Boxed.init)
        self.expireTime = expireTime
        self.boxedHold = hold.map(Boxed.init)
        self.version = version
        self.createSequence = createSequence
        self.lastSequence = lastSequence
    }

    /// Runs the lease (if any, and while running) for its TTL again from `time`.
    mutating func renewLease(at time: Timestamp) {
        guard outcome == nil, let ttl = lease?.ttl else { return }
        lease!.expireTime = time + ttl
    }

    /// The values a List filter sees.
    public var filterRecord: FilterRecord {
        var errorCode: Int32?
        var response: Payload?
        switch outcome {
        case .error(let status): errorCode = status.code
        case .response(let payload): response = payload
        case nil: break
        }
        // The payloads are shared, not copied: only a filter on a field inside one reads its bytes.
        return FilterRecord(
            name: name.description, done: done, createTime: createTime, updateTime: updateTime,
            endTime: endTime, errorCode: errorCode, cancelRequested: cancelRequest != nil,
            metadataType: metadata?.typeURL, responseType: response?.typeURL, metadata: metadata, response: response
        )
    }
}

/// A value behind a reference that is never changed (a change stores a new one), compared and
/// hashed by its value: for the parts of ``OperationState`` that most states lack.
@usableFromInline
final class Boxed<Value: Hashable & Sendable>: Hashable, Sendable {
    @usableFromInline let value: Value

    @inlinable
    init(_ value: Value) {
        self.value = value
    }

    @usableFromInline
    static func == (lhs: Boxed, rhs: Boxed) -> Bool { lhs === rhs || lhs.value == rhs.value }

    @usableFromInline
    func hash(into hasher: inout Hasher) { hasher.combine(value) }
}

// A state printed (a test's failure, a log line) shows the value, not the box.
extension Boxed: CustomStringConvertible, CustomDebugStringConvertible {
    @usableFromInline var description: String { String(describing: value) }
    @usableFromInline var debugDescription: String { String(reflecting: value) }
}
