import LMDB
import Logging

extension Store {
    /// Converts a store of format 1 to format 2 in place: every value of the log and of the views
    /// gains its checksum (``Checksum``); keys, records and chain hashes stay as they were.
    ///
    /// Runs in chunks, each its own transaction that also records how far it got
    /// (``Schema/MetaKey/upgradeProgress``), so an interrupted conversion resumes where it stopped
    /// and never seals a value twice. The format number changes in the last transaction. Logs its
    /// progress as it goes.
    func upgradeFromFormat1(chunk: Int = 20_000) throws {
        let databases = schema.checksummed
        let meta = schema.meta
        let (resume, total): ((index: Int, after: [UInt8])?, Int) = try storage {
            try environment.read { txn in
                let progress = try txn.get(meta, key: Schema.MetaKey.upgradeProgress).flatMap { value -> (Int, [UInt8])? in
                    guard let index = value.first else { return nil }
                    return (Int(index), Array(value.dropFirst()))
                }
                return (progress, try databases.reduce(0) { $0 + (try txn.count($1)) })
            }
        }
        logger.notice("converting the store from format 1 to format \(Schema.formatVersion): every record gains a checksum", metadata: [
            "directory": "\(directory)", "records": "\(total)", "resuming": "\(resume != nil)",
        ])
        var converted = 0
        for (index, database) in databases.enumerated() where index >= (resume?.index ?? 0) {
            var after: [UInt8]? = index == resume?.index ? resume?.after : nil
            while true {
                let last: [UInt8]? = try storage {
                    try environment.write { txn -> [UInt8]? in
                        var batch: [([UInt8], [UInt8])] = []
                        batch.reserveCapacity(chunk)
                        try txn.withCursor(database) { cursor in
                            var entry = try after.map { try cursor.seek(atLeast: $0) } ?? cursor.first()
                            if let after, let (key, _) = entry, key.elementsEqual(after) { entry = try cursor.next() }
                            while let (key, value) = entry, batch.count < chunk {
                                batch.append((Array(key), Array(value)))
                                entry = try cursor.next()
                            }
                        }
                        for (key, value) in batch {
                            try txn.put(database, key: key, value: Checksum.seal(key: key, body: value))
                        }
                        guard let last = batch.last?.0 else { return nil }
                        try txn.put(meta, key: Schema.MetaKey.upgradeProgress, value: [UInt8(index)] + last)
                        return last
                    }
                }
                guard let last else { break }
                after = last
                converted += chunk
                logger.notice("converting the store", metadata: [
                    "database": "\(database.name)", "progress": "\(min(100, converted * 100 / max(total, 1)))%",
                ])
            }
        }
        try storage {
            try environment.write { txn in
                try txn.put(meta, key: Schema.MetaKey.formatVersion, value: Schema.formatVersionValue)
                _ = try txn.delete(meta, key: Schema.MetaKey.upgradeProgress)
            }
        }
        logger.notice("the store is now format \(Schema.formatVersion)", metadata: ["directory": "\(directory)"])
    }
}
