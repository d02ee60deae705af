import LMDB
import LongrunDomain

/// One page of a List over a collection, in creation order.
public struct ListQuery: Sendable {
    public var collection: CollectionName
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
        self.collection = collection
        self.filter = filter
        self.afterCreateSequence = afterCreateSequence
        self.pageSize = pageSize
        self.scanBudget = scanBudget
        self.creatorUID = creatorUID
        self.maximumBytes = maximumBytes
    }
}

public struct ListPage: Sendable {
    public var operations: [OperationState]
    /// Where the next page starts; nil when this page is the last.
    public var resumeAfter: UInt64?
}

extension StoreReader {
    /// Lists a collection from the creation index, or from the index of running operations when
    /// the filter excludes done ones. Keyset paging on the immutable create sequence means no
    /// operation is skipped or repeated across pages while others change.
    public func list(_ query: ListQuery) throws -> ListPage {
        let index = query.filter.excludesDone ? schema.running : schema.byCreation
        // The index of running operations answers `done = false` by itself.
        let filter = query.filter == .notDone ? Filter.all : query.filter
        let prefix = Keys.collectionPrefix(query.collection)
        return try txn.withCursor(index) { cursor in
            var operations: [OperationState] = []
            operations.reserveCapacity(min(query.pageSize, 1000))
            var scanned = 0
            var bytes = 0
            var lastScanned = query.afterCreateSequence
            var entry = try cursor.seek(atLeast: prefix + Keys.sequence(query.afterCreateSequence &+ 1))
            while let (key, value) = entry, Keys.hasPrefix(key, prefix), key.count == prefix.count + 8 {
                if scanned >= query.scanBudget {
                    // Out of budget: a short page; the client continues from the last examined entry.
                    return ListPage(operations: operations, resumeAfter: lastScanned)
                }
                scanned += 1
                let sequence = Keys.decodeSequence(UnsafeRawBufferPointer(rebasing: key[prefix.count...])) ?? 0
                let nameKey = try Checksum.open(index, key: key, value: value)
                guard let stored = try txn.get(schema.operations, key: nameKey) else {
                    throw StoreError(.dataLoss, "the list index names \(String(decoding: nameKey, as: UTF8.self)), which has no view")
                }
                let stateBytes = try Checksum.open(schema.operations, key: nameKey, value: stored)
                let state = try decodeState(stateBytes, key: String(decoding: nameKey, as: UTF8.self))
                if query.creatorUID == nil || state.creator.uid == query.creatorUID,
                   filter.isEmpty || filter.matches(state.filterRecord) {
                    if operations.count == query.pageSize || (!operations.isEmpty && bytes + stateBytes.count > query.maximumBytes) {
                        // One more match exists: the page is full and not the last.
                        return ListPage(operations: operations, resumeAfter: operations.last!.createSequence)
                    }
                    operations.append(state)
                    bytes += stateBytes.count
                }
                lastScanned = sequence
                entry = try cursor.next()
            }
            return ListPage(operations: operations, resumeAfter: nil)
        }
    }
}
