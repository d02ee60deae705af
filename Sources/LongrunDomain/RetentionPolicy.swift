/// How long done operations are kept before the engine expires them, by how they ended. nil keeps
/// them forever. A hold keeps an operation whatever its time to live.
public struct RetentionPolicy: Hashable, Sendable {
    public var succeeded: Duration?
    public var failed: Duration?
    public var cancelled: Duration?

    public static let keepForever = RetentionPolicy(succeeded: nil, failed: nil, cancelled: nil)

    public init(succeeded: Duration?, failed: Duration?, cancelled: Duration?) {
        self.succeeded = succeeded
        self.failed = failed
        self.cancelled = cancelled
    }

    /// The three ways an operation can end, for retention.
    public enum OutcomeClass: UInt8, CaseIterable, Sendable {
        case succeeded = 0, failed = 1, cancelled = 2
    }

    public static func outcomeClass(_ outcome: Outcome) -> OutcomeClass {
        switch outcome {
        case .response: .succeeded
        case .error(let status) where status.code == StatusCode.cancelled.rawValue: .cancelled
        case .error: .failed
        }
    }

    public func timeToLive(_ outcomeClass: OutcomeClass) -> Duration? {
        switch outcomeClass {
        case .succeeded: succeeded
        case .failed: failed
        case .cancelled: cancelled
        }
    }

    public func timeToLive(_ outcome: Outcome) -> Duration? {
        timeToLive(Self.outcomeClass(outcome))
    }

    public var keepsEverything: Bool { succeeded == nil && failed == nil && cancelled == nil }
}
