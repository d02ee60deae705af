public import LongrunDomain

/// One page of a List over a collection, or over several (AIP-159 wildcards), in creation order:
/// by create sequence, which is global, so pages across collections interleave them as created.
public struct ListQuery: Sendable {
    public var collections: CollectionSet
    public var filter: Filter
    /// Resume after this create sequence (0: from the start).
    public var afterCreateSequence: UInt64
    public var pageSize: Int
    /// Index entries a page may examine before it returns short (with a token to continue), so a
    /// filter that matches rarely cannot make one request scan the whole store.
    public var scanBudget: Int
    /// Only operations this uid created (an owner-only daemon's non-admin callers); nil: all.
    public var creatorUID: UInt32?
    /// Stored bytes a page may hold before it ends early (with a token to continue), so that a page
    /// of large operations stays under what gRPC clients accept in one message (4 MiB by default).
    /// A page always holds at least one operation.
    public var maximumBytes: Int

    public init(collection: CollectionName, filter: Filter = .all, afterCreateSequence: UInt64 = 0, pageSize: Int,
                scanBudget: Int = 10_000, creatorUID: UInt32? = nil, maximumBytes: Int = 3 << 20) {
        self.init(collections: CollectionSet(collection), filter: filter, afterCreateSequence: afterCreateSequence, pageSize: pageSize,
                  scanBudget: scanBudget, creatorUID: creatorUID, maximumBytes: maximumBytes)
    }

    public init(collections: CollectionSet, filter: Filter = .all, afterCreateSequence: UInt64 = 0, pageSize: Int,
                scanBudget: Int = 10_000, creatorUID: UInt32? = nil, maximumBytes: Int = 3 << 20) {
        self.collections = collections
        self.filter = filter
        self.afterCreateSequence = afterCreateSequence
        self.pageSize = pageSize
        self.scanBudget = scanBudget
        self.creatorUID = creatorUID
        self.maximumBytes = maximumBytes
    }

    /// Whether the index of running operations holds every candidate (the filter excludes done ones).
    public var usesRunningIndex: Bool { filter.excludesDone }

    /// Whether every candidate the index gives is a match, whatever its record says: one
    /// collection, no owner check, and no filter left once the index chose the candidates (none,
    /// or `done = false` on the running index). A page then reads the records it returns and no
    /// other: its cost is bounded by its size, not by how many candidates a filter turns away.
    public var everyCandidateMatches: Bool {
        collections.single != nil && creatorUID == nil && (filter.isEmpty || filter == .notDone)
    }
}

public struct ListPage: Sendable {
    public var operations: [OperationState]
    /// Where the next page starts; nil when this page is the last.
    public var resumeAfter: UInt64?
}

/// Builds one List page from candidates in creation order, the same way on every backend: the
/// owner and filter checks, the page size, the byte bound and the scan budget.
public struct ListPageBuilder {
    public let query: ListQuery
    /// The filter left to check once the index chose the candidates.
    private let filter: Filter
    /// Whether every candidate is known to be of the query's collections, so that
    /// ``add(_:sequence:size:)`` need not ask ``CollectionSet/matches(_:)``: LMDB reads each
    /// matching collection's index entries alone; PostgreSQL's query narrows a wildcard to a
    /// prefix of the parent only.
    private let candidatesInCollections: Bool
    private var operations: [OperationState] = []
    private var scanned = 0
    private var bytes = 0
    private var lastScanned: UInt64

    public init(_ query: ListQuery, candidatesInCollections: Bool = false) {
        self.query = query
        self.candidatesInCollections = candidatesInCollections
        // The index of running operations answers `done = false` by itself.
        self.filter = query.filter == .notDone ? Filter.all : query.filter
        self.lastScanned = query.afterCreateSequence
        operations.reserveCapacity(min(query.pageSize, 1000))
    }

    /// Call before examining each candidate: a short page when the scan budget is spent (the client
    /// continues from the last candidate examined), so a rare filter cannot scan the whole store.
    public mutating func budgetExhausted() -> ListPage? {
        guard scanned >= query.scanBudget else { return nil }
        return ListPage(operations: operations, resumeAfter: lastScanned)
    }

    /// Call before reading a candidate's record: the page, when it is full and the candidate
    /// matches whatever its record says (one collection, no owner check, no filter left), so that
    /// a page does not read one record more only to learn that another page follows.
    public func fullBeforeReading() -> ListPage? {
        guard operations.count == query.pageSize, let last = operations.last, query.everyCandidateMatches else { return nil }
        return ListPage(operations: operations, resumeAfter: last.createSequence)
    }

    /// Examines one candidate, `size` bytes as stored; returns the page when it is full and another
    /// match exists (so the page is not the last). Takes the state over: the page keeps it
    /// without a copy (a retain and a release of each of its fields).
    public mutating func add(_ state: consuming OperationState, sequence: UInt64, size: Int) -> ListPage? {
        scanned += 1
        if query.creatorUID == nil || state.creator.uid == query.creatorUID,
           candidatesInCollections || query.collections.single != nil || query.collections.matches(state.name.collection),
           filter.isEmpty || filter.matches(state.filterRecord) {
            if operations.count == query.pageSize || (!operations.isEmpty && bytes + size > query.maximumBytes) {
                return ListPage(operations: operations, resumeAfter: operations.last!.createSequence)
            }
            operations.append(consume state)
            bytes += size
        }
        lastScanned = sequence
        return nil
    }

    /// Counts a candidate the backend already knows is outside the query's collections (a
    /// wildcard read in global creation order), towards the scan budget.
    public mutating func skip(sequence: UInt64) {
        scanned += 1
        lastScanned = sequence
    }

    /// The candidates ran out: the last page.
    public func end() -> ListPage {
        ListPage(operations: operations, resumeAfter: nil)
    }
}
