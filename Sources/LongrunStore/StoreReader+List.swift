import LMDB
import LongrunDomain

extension StoreReader {
    /// Lists a collection from the creation index, or from the index of running operations when
    /// the filter excludes done ones. Keyset paging on the immutable create sequence means no
    /// operation is skipped or repeated across pages while others change.
    public func list(_ query: ListQuery) throws -> ListPage {
        let index = query.usesRunningIndex ? schema.running : schema.byCreation
        let prefix = Keys.collectionPrefix(query.collection)
        return try txn.withCursor(index) { cursor in
            var page = ListPageBuilder(query)
            var entry = try cursor.seek(atLeast: prefix + Keys.sequence(query.afterCreateSequence &+ 1))
            while let (key, value) = entry, Keys.hasPrefix(key, prefix), key.count == prefix.count + 8 {
                if let short = page.budgetExhausted() { return short }
                let sequence = Keys.decodeSequence(UnsafeRawBufferPointer(rebasing: key[prefix.count...])) ?? 0
                let nameKey = try Checksum.open(index, key: key, value: value)
                guard let stored = try txn.get(schema.operations, key: nameKey) else {
                    throw StoreError(.dataLoss, "the list index names \(String(decoding: nameKey, as: UTF8.self)), which has no view")
                }
                let stateBytes = try Checksum.open(schema.operations, key: nameKey, value: stored)
                let state = try decodeState(stateBytes, key: String(decoding: nameKey, as: UTF8.self))
                if let full = page.add(state, sequence: sequence, size: stateBytes.count) { return full }
                entry = try cursor.next()
            }
            return page.end()
        }
    }
}
