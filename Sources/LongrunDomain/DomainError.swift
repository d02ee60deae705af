/// A command the lifecycle rules reject. ``Kind`` decides the `google.rpc.Code` (the server's
/// `RPCErrorConvertible` conformance) and ``reason`` is sent as the `ErrorInfo` reason.
public struct DomainError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Kind: Hashable, Sendable, CaseIterable {
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
    /// For machines: e.g. ``Reason/operationAlreadyDone``.
    public var reason: Reason
    /// For people: what went wrong and, where it helps, what to do next.
    public var message: String
    /// For machines, beside the reason: e.g. `operation` naming the operation concerned.
    public var metadata: [String: String] = [:]

    public init(_ kind: Kind, reason: Reason, _ message: String) {
        self.kind = kind
        self.reason = reason
        self.message = message
    }

    public var description: String { "\(reason): \(message)" }

    /// The `ErrorInfo.domain` of every reason Longrun gives, in call errors and operation errors alike.
    public static let errorDomain = "longrun.dev"

    static func notFound(_ name: OperationName) -> DomainError {
        DomainError(.notFound, reason: .operationNotFound, "operation \(name) does not exist")
    }

    static func deleted(_ name: OperationName) -> DomainError {
        DomainError(.notFound, reason: .operationNotFound, "operation \(name) was deleted")
    }

    static func expired(_ name: OperationName) -> DomainError {
        DomainError(.notFound, reason: .operationNotFound, "operation \(name) expired under the retention policy; its history remains")
    }

    static func alreadyDone(_ name: OperationName, _ verb: String) -> DomainError {
        DomainError(.failedPrecondition, reason: .operationAlreadyDone,
                    "cannot \(verb) operation \(name): it is already done")
    }
}
