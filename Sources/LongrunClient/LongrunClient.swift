public import GRPCCore
public import LongrunProto
public import SwiftProtobuf

/// A client of one `longrund`: typed access to its four services, the calls consumers and
/// producers need (errors mapped to ``LongrunClientError``), and operation handles.
///
/// Create one with ``withLongrunClient(socketPath:actor:_:)``, or wrap a running `GRPCClient` with
/// ``init(wrapping:actor:)``. The service clients are existentials, so tests can substitute their
/// own implementations (``init(operations:producers:history:admin:actor:)``).
public struct LongrunClient: Sendable {
    /// `google.longrunning.Operations`: get, list, wait for, cancel, delete.
    public let operations: any Google_Longrunning_Operations.ClientProtocol
    /// `longrun.v1.Producers`: create, update, complete (and `StreamTransitions`).
    public let producers: any Longrun_V1_Producers.ClientProtocol
    /// `longrun.v1.History`: operation events, the event stream and operation details.
    public let history: any Longrun_V1_History.ClientProtocol
    /// `longrun.v1.Admin`: snapshots and server information.
    public let admin: any Longrun_V1_Admin.ClientProtocol

    /// Sent as the `longrun-actor` request metadata of every call: the `Actor.label` of the events
    /// this client causes (e.g. a worker or host name). Nil or empty: not sent.
    public var actor: String?

    /// How long one `WaitOperation` call may wait (its `timeout`) in ``waitUntilDone(_:timeout:perCallTimeout:onUpdate:)``
    /// and ``OperationHandle/result()``.
    public var waitCallTimeout: Duration = .seconds(30)

    /// The polling schedule used when the server does not implement `WaitOperation`.
    public var pollBackoff = Backoff.polling

    public init<Transport: ClientTransport>(wrapping client: GRPCClient<Transport>, actor: String? = nil) {
        self.init(
            operations: Google_Longrunning_Operations.Client(wrapping: client),
            producers: Longrun_V1_Producers.Client(wrapping: client),
            history: Longrun_V1_History.Client(wrapping: client),
            admin: Longrun_V1_Admin.Client(wrapping: client),
            actor: actor
        )
    }

    public init(
        operations: any Google_Longrunning_Operations.ClientProtocol,
        producers: any Longrun_V1_Producers.ClientProtocol,
        history: any Longrun_V1_History.ClientProtocol,
        admin: any Longrun_V1_Admin.ClientProtocol,
        actor: String? = nil
    ) {
        self.operations = operations
        self.producers = producers
        self.history = history
        self.admin = admin
        self.actor = actor
    }

    /// The request metadata every call carries.
    var requestMetadata: Metadata {
        var metadata: Metadata = [:]
        if let actor, !actor.isEmpty { metadata.addString(actor, forKey: "longrun-actor") }
        return metadata
    }

    // MARK: Handles

    /// A typed handle on an existing operation, for consumers.
    public func operation<Response: SwiftProtobuf.Message, Metadata: SwiftProtobuf.Message>(
        _ name: String,
        response: Response.Type = Response.self,
        metadata: Metadata.Type = Metadata.self
    ) -> OperationHandle<Response, Metadata> {
        OperationHandle(name: name, client: self)
    }

    /// Creates an operation (`CreateOperation`) and returns a handle to drive it as its producer.
    public func createOperation(_ options: CreateOperationOptions = CreateOperationOptions()) async throws -> ProducerHandle {
        let request = options.request()
        let operation = try await mappingErrors {
            try await producers.createOperation(request, metadata: requestMetadata)
        }
        return ProducerHandle(operation: operation, client: self)
    }

    /// A producer handle on an operation created earlier (e.g. by another process).
    public func producer(for name: String) -> ProducerHandle {
        ProducerHandle(operation: Google_Longrunning_Operation.with { $0.name = name }, client: self)
    }
}
