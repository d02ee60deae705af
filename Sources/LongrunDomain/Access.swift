/// What a caller may do, decided by the edge from credentials the kernel vouches for (never from
/// what a client says), and enforced by ``Lifecycle/decide(_:state:context:)`` in the same
/// transaction as the command, so a check and its effect cannot be separated.
///
/// The rules:
/// - anyone who may connect creates operations;
/// - progress, complete, cancel and delete are for the operation's creating uid and for
///   unrestricted callers (root, members of the admin group, the engine, in-process embedders);
/// - heartbeats are also for the uid holding the operation's lease; adoption is for the creating uid
///   and unrestricted callers;
/// - hold and release are for unrestricted callers only: a legal hold is not its owner's to lift;
/// - reads are open to everyone who may connect, unless the daemon runs owner-only, when each
///   caller reads only the operations its uid created.
///
/// A refused caller gets PERMISSION_DENIED whether or not the operation exists, so refusals do
/// not tell who may not see an operation that it exists.
public enum Access: Hashable, Sendable {
    /// Root, the admin group, the engine itself, and code embedding the engine in-process.
    case unrestricted
    /// A peer identified by the kernel: it acts on the operations its uid created.
    case owner(uid: UInt32, readsOwnOnly: Bool)

    /// Whether the caller may read `state` (nil: no such operation). Checked before existence.
    public func mayRead(_ state: OperationState?) -> Bool {
        switch self {
        case .unrestricted: true
        case .owner(_, readsOwnOnly: false): true
        case .owner(let uid, readsOwnOnly: true): state?.creator.uid == uid
        }
    }

    /// Whether the caller may change `state` (nil: no such operation).
    public func mayChange(_ state: OperationState?) -> Bool {
        switch self {
        case .unrestricted: true
        case .owner(let uid, _): state?.creator.uid == uid
        }
    }

    /// The uid whose operations alone this caller may list, or nil for all.
    public var listsOnlyUID: UInt32? {
        if case .owner(let uid, readsOwnOnly: true) = self { return uid }
        return nil
    }

    /// Throws PERMISSION_DENIED if the caller reads only its own operations (owner-only): the
    /// names of the collections would tell it of others' operations, and finding the collections
    /// that hold its own would read every operation. It lists its own with a wildcard instead.
    public func requireListCollections() throws(DomainError) {
        guard listsOnlyUID == nil else {
            throw .permissionDenied("list the collections", rule: "this daemon is owner-only: only root or the admin group may; list your own operations across collections with the name '-'")
        }
    }

    /// Throws PERMISSION_DENIED unless the caller may read `state`.
    public func requireRead(_ state: OperationState?, _ name: OperationName) throws(DomainError) {
        guard mayRead(state) else {
            throw .permissionDenied("read operation \(name)", rule: "this daemon is owner-only: only the operation's creator, root or the admin group may read it")
        }
    }

    func requireChange(_ state: OperationState?, _ name: OperationName, _ verb: String) throws(DomainError) {
        guard mayChange(state) else {
            throw .permissionDenied("\(verb) operation \(name)", rule: "only the operation's creator, root or the admin group may")
        }
    }

    /// Whether the caller may renew `state`'s lease: its creator's uid, its holder's, or unrestricted.
    public func mayHeartbeat(_ state: OperationState?) -> Bool {
        switch self {
        case .unrestricted: true
        case .owner(let uid, _): state?.creator.uid == uid || (state?.lease?.holder.uid).map { $0 == uid } == true
        }
    }

    func requireHeartbeat(_ state: OperationState?, _ name: OperationName) throws(DomainError) {
        guard mayHeartbeat(state) else {
            throw .permissionDenied("renew the lease of operation \(name)", rule: "only the operation's creator, its lease holder, root or the admin group may")
        }
    }

    /// Throws PERMISSION_DENIED unless the caller may administer the store (take a snapshot,
    /// scrub, repair): root, the daemon's user or the admin group.
    public func requireAdministration(_ what: String) throws(DomainError) {
        guard case .owner(let uid, _) = self else { return }
        throw .permissionDenied(what, rule: "only root, the daemon's user or the admin group may (uid \(uid))")
    }

    func requireUnrestricted(_ name: OperationName, _ verb: String) throws(DomainError) {
        guard self == .unrestricted else {
            throw .permissionDenied("\(verb) operation \(name)", rule: "only root or the admin group may")
        }
    }
}

extension DomainError {
    static func permissionDenied(_ what: String, rule: String) -> DomainError {
        DomainError(.permissionDenied, reason: .permissionDenied, "not allowed to \(what): \(rule)")
    }
}
