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

    public struct Create: Hashable, Sendable {
        /// Caller-chosen or generated; the engine generates before deciding.
        public var name: OperationName
        public var metadata: Payload?
        public var requestID: String?
        public var cancellation: CancellationPolicy

        public init(name: OperationName, metadata: Payload? = nil, requestID: String? = nil, cancellation: CancellationPolicy = .default) {
            self.name = name
            self.metadata = metadata
            self.requestID = requestID
            self.cancellation = cancellation
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
             .expire(let name), .hold(let name, _), .release(let name, _), .recordRepair(let name, _): name
        }
    }
}
