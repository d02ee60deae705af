/// A command the lifecycle rules reject. The edge maps ``Kind`` to a `google.rpc.Code` in one table
/// and sends ``reason`` as the `ErrorInfo` reason.
public struct DomainError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Kind: Hashable, Sendable {
        case invalidArgument
        case notFound
        case alreadyExists
        case failedPrecondition
        case aborted
        case outOfRange
        case resourceExhausted
        case permissionDenied
    }

    public var kind: Kind
    /// UPPER_SNAKE, stable, for machines: e.g. `OPERATION_ALREADY_DONE`.
    public var reason: String
    /// For people: what went wrong and, where it helps, what to do next.
    public var message: String
    /// For machines, beside the reason: e.g. `operation` naming the operation concerned.
    public var metadata: [String: String] = [:]

    public init(_ kind: Kind, reason: String, _ message: String) {
        self.kind = kind
        self.reason = reason
        self.message = message
    }

    public var description: String { "\(reason): \(message)" }

    /// The `ErrorInfo.domain` of every reason Longrun gives, in call errors and operation errors alike.
    public static let errorDomain = "longrun.dev"

    static func notFound(_ name: OperationName) -> DomainError {
        DomainError(.notFound, reason: "OPERATION_NOT_FOUND", "operation \(name) does not exist")
    }

    static func deleted(_ name: OperationName) -> DomainError {
        DomainError(.notFound, reason: "OPERATION_NOT_FOUND", "operation \(name) was deleted")
    }

    static func expired(_ name: OperationName) -> DomainError {
        DomainError(.notFound, reason: "OPERATION_NOT_FOUND", "operation \(name) expired under the retention policy; its history remains")
    }

    static func alreadyDone(_ name: OperationName, _ verb: String) -> DomainError {
        DomainError(.failedPrecondition, reason: "OPERATION_ALREADY_DONE",
                    "cannot \(verb) operation \(name): it is already done")
    }
}
