public import LongrunDomain

/// A ListOperations request, as the engine takes it.
public struct ListRequest: Hashable, Sendable {
    /// The collection: `""` or `operations` for the root, `{parent}` or `{parent}/operations`.
    public var name: String
    /// AIP-160 filter; empty matches everything.
    public var filter: String
    /// 0 → ``defaultPageSize``; above ``maximumPageSize`` → that maximum; negative → INVALID_ARGUMENT.
    public var pageSize: Int32
    public var pageToken: String

    public static let defaultPageSize = 50
    public static let maximumPageSize = 1000

    public init(name: String = "", filter: String = "", pageSize: Int32 = 0, pageToken: String = "") {
        self.name = name
        self.filter = filter
        self.pageSize = pageSize
        self.pageToken = pageToken
    }

    static func effectivePageSize(_ requested: Int32) throws(DomainError) -> Int {
        guard requested >= 0 else {
            throw DomainError(.invalidArgument, reason: .invalidPageSize, "page_size must not be negative (0 means the default of \(defaultPageSize))")
        }
        return requested == 0 ? defaultPageSize : min(Int(requested), maximumPageSize)
    }
}

/// What a list or a watch covers: the collections its name picks (``CollectionSet``) and its
/// filter, parsed once the same way for both (INVALID_ARGUMENT if either is malformed).
struct ListScope: Sendable {
    let collections: CollectionSet
    let filter: Filter

    /// Field paths into metadata and response are resolved in `schemas` (``Configuration/payloadSchemas``).
    init(name: String, filter: String, schemas: PayloadSchemas) throws {
        collections = try CollectionSet(listName: name)
        do { self.filter = try Filter(parsing: filter, schemas: schemas) } catch {
            throw DomainError(.invalidArgument, reason: .invalidFilter, error.message)
        }
    }
}

public struct ListResponse: Sendable {
    public var operations: [OperationState]
    /// Empty only on the last page.
    public var nextPageToken: String
}

/// A request for the collections that hold live operations (``LongrunEngine/collections(_:access:)``).
public struct CollectionsRequest: Hashable, Sendable {
    /// `""` or `-`: every collection; `tenants/-`: those a wildcard names; or one collection.
    public var name: String
    /// As ListOperations': 0 → 50, at most 1000.
    public var pageSize: Int32
    public var pageToken: String

    public init(name: String = "", pageSize: Int32 = 0, pageToken: String = "") {
        self.name = name
        self.pageSize = pageSize
        self.pageToken = pageToken
    }
}

public struct CollectionsPage: Sendable {
    public var collections: [CollectionName]
    /// Empty only on the last page.
    public var nextPageToken: String
}

public struct HistoryPage: Sendable {
    public var events: [Event]
    /// The operation's version right after each event (``Event/versions(of:after:)``).
    public var versions: [UInt64]
    /// Empty only on the last page.
    public var nextPageToken: String
}
