public import LongrunDomain

/// A backend that can answer a point read on the caller's thread, without suspending.
///
/// The server answers its hottest call, GetOperation, on the connection's event loop when the
/// backend can: no task, no thread hand-off (see `UnaryFastPath` in LongrunServer). LMDB reads
/// are microseconds in a read transaction of their own and never wait for the writer, so the
/// event loop is not held up. A backend whose reads wait on the network (PostgreSQL) does not
/// conform, and its calls take the asynchronous path.
public protocol ImmediateReads: Sendable {
    /// The operation's current state, as ``OperationStore/operation(_:)`` answers it.
    func operationImmediately(_ name: OperationName) throws -> OperationState?

    /// One List page, as ``OperationStore/list(_:)`` answers it.
    func listImmediately(_ query: ListQuery) throws -> ListPage
}

extension Store: ImmediateReads {
    public func operationImmediately(_ name: OperationName) throws -> OperationState? {
        try read { try $0.operation(name) }
    }

    public func listImmediately(_ query: ListQuery) throws -> ListPage {
        try read { try $0.list(query) }
    }
}
