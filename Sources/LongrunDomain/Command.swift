/// What a caller asks the engine to do. ``Lifecycle/decide(_:state:context:)`` turns a command and
/// the current state into events, or rejects it.
public enum Command: Hashable, Sendable {
    case create(Create)
    case progress(Progress)
    case complete(name: OperationName, outcome: Outcome)
    case cancel(name: OperationName, reason: String)
    case delete(name: OperationName)
    /// Issued by the engine: complete a cancel-requested operation whose grace period has elapsed.
    case enforceCancelGrace(name: OperationName)
    /// Issued by the engine: expire a done operation whose time to live has passed.
    case expire(name: OperationName)
    /// Keep the operation from expiring (idempotent).
    case hold(name: OperationName, reason: String)
    /// Let the operation expire again (idempotent).
    case release(name: OperationName, reason: String)
    /// Record that the operation's views were rebuilt from its events after damage was found
    /// (for unrestricted callers: the engine, root, the admin group).
    case recordRepair(name: OperationName, detail: String)
    /// The producer is alive: renew the operation's lease (for its creator's uid, its holder's, or
    /// unrestricted callers). Not a transition.
    case heartbeat(name: OperationName)
    /// Take a running operation over, at `expectedVersion`, holding its lease from now on (for its
    /// creator's uid or unrestricted callers), with `leaseTTL` or, when nil, the lease's TTL.
    case adopt(name: OperationName, expectedVersion: UInt64, leaseTTL: Duration?)
    /// Issued by the engine: complete with ABORTED a running operation whose lease has expired
    /// (decide checks the expiry, so a heartbeat committed first wins).
    case expireLease(name: OperationName)

    public struct Create: Hashable, Sendable {
        /// Caller-chosen or generated; the engine generates before deciding.
        public var name: OperationName
        public var metadata: Payload?
        public var requestID: String?
        public var cancellation: CancellationPolicy
        /// The id the caller asked for; nil when the engine generated ``name``'s. Part of what makes
        /// two creates with one request id the same request.
        public var requestedID: String?
        /// Hold the operation under a lease of this TTL (``Limits/leaseTTLRange``); nil: no lease.
        public var leaseTTL: Duration?

        public init(name: OperationName, metadata: Payload? = nil, requestID: String? = nil, cancellation: CancellationPolicy = .default,
                    requestedID: String? = nil, leaseTTL: Duration? = nil) {
            self.leaseTTL = leaseTTL
            self.name = name
            self.metadata = metadata
            self.requestID = requestID
            self.cancellation = cancellation
            self.requestedID = requestedID
        }

        /// A fingerprint of what was asked for (the requested id, metadata, cancellation and lease): a
        /// request id reused with another fingerprint is another request, refused (AIP-155).
        public var fingerprint: UInt64 {
            var hash = RequestFingerprint()
            hash.add(requestedID.map { "id:" + $0 } ?? "generated")
            hash.add(metadata?.typeURL ?? "")
            hash.add(metadata.map { $0.value } ?? [])
            switch cancellation {
            case .immediate: hash.add("immediate")
            case .cooperative(let grace): hash.add("cooperative:" + (grace.map { "\($0.components.seconds).\($0.components.attoseconds)" } ?? "default"))
            }
            // Only a lease adds to the hash, so fingerprints of creates without one stay as they were.
            if let leaseTTL { hash.add("lease:\(leaseTTL.nanoseconds)") }
            return hash.value
        }
    }

    /// FNV-1a (64 bits) over length-prefixed fields: stable across runs, builds and platforms.
    struct RequestFingerprint {
        private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325

        mutating func add(_ text: String) { add(Array(text.utf8)) }

        mutating func add(_ bytes: [UInt8]) {
            for byte in withUnsafeBytes(of: UInt64(bytes.count).littleEndian, Array.init) + bytes {
                value = (value ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
            }
        }
    }

    public struct Progress: Hashable, Sendable {
        public var name: OperationName
        public var metadata: Payload?
        public var expectedVersion: UInt64?

        public init(name: OperationName, metadata: Payload?, expectedVersion: UInt64? = nil) {
            self.name = name
            self.metadata = metadata
            self.expectedVersion = expectedVersion
        }
    }

    /// The operation the command is about.
    public var name: OperationName {
        switch self {
        case .create(let create): create.name
        case .progress(let progress): progress.name
        case .complete(let name, _), .cancel(let name, _), .delete(let name), .enforceCancelGrace(let name),
             .expire(let name), .hold(let name, _), .release(let name, _), .recordRepair(let name, _), .heartbeat(let name),
             .adopt(let name, _, _), .expireLease(let name): name
        }
    }
}
