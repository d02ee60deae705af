import LMDB
import LongrunDomain
@testable import LongrunStore
import LongrunTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Every stored record carries a checksum: a damaged one is never served, the scrub finds it in
/// one pass, and repair rebuilds a store that verifies.
@Suite("Store: checksums, scrub and repair")
struct ChecksumTests {
    let logger = Fixtures.quietLogger
    let t0 = Timestamp(seconds: 1_800_000_000)
    static let collections = [CollectionName.root, try! CollectionName(parent: "tenants/acme")]

    func name(_ index: Int) -> OperationName {
        try! OperationName(collection: Self.collections[index % 2], id: "op-\(index)")
    }

    /// A store whose operations use every index: running, done, cancel-requested with a deadline,
    /// deleted, held, with request ids.
    func populated(_ directory: String, count: Int = 30) throws -> Store {
        let store = try Store(directory: directory, logger: logger)
        for index in 0..<count {
            let op = name(index)
            let at = t0 + .seconds(index)
            try store.write { writer in
                try writer.append([.init(actor: Fixtures.producer, kind: .created(.init(metadata: Fixtures.payload("M", "op \(index)"), requestID: "r\(index)")))], name: op, time: at)
                if index % 2 == 0 { try writer.append([.init(actor: Fixtures.producer, kind: .progressed(metadata: Fixtures.payload("M", "half")))], name: op, time: at) }
                if index % 5 == 1 { try writer.append([.init(actor: Fixtures.consumer, kind: .cancelRequested(reason: "", graceDeadline: t0 + .seconds(999)))], name: op, time: at) }
                if index % 3 == 0 { try writer.append([.init(actor: Fixtures.producer, kind: .completed(.response(Fixtures.payload("R"))))], name: op, time: at) }
                if index % 9 == 0 { try writer.append([.init(actor: Fixtures.consumer, kind: .holdSet(reason: "audit"))], name: op, time: at) }
                if index % 7 == 4 { try writer.append([.init(actor: Fixtures.consumer, kind: .deleted)], name: op, time: at) }
            }
        }
        return store
    }

    /// Every operation's state as the views hold it.
    func states(_ store: Store, count: Int = 30) throws -> [OperationName: OperationState] {
        try store.read { reader in
            var states: [OperationName: OperationState] = [:]
            for index in 0..<count { states[name(index)] = try reader.operation(name(index)) }
            return states
        }
    }

    /// The key and value of the `index`th entry of `database`, in key order.
    func entry(_ txn: ReadTransaction, _ database: Database, _ index: Int) throws -> (key: [UInt8], value: [UInt8]) {
        try txn.withCursor(database) { cursor in
            var entry = try cursor.first()
            for _ in 0..<index { entry = try cursor.next() }
            let (key, value) = try #require(entry)
            return (Array(key), Array(value))
        }
    }

    /// Flips one bit of the value (or, with `inKey`, of the key) of the `index`th entry of `database`.
    func flip(_ store: Store, _ database: Database, entry index: Int, byte: Int, inKey: Bool = false) throws -> DamagedRecord {
        try store.environment.write { txn in
            let (key, value) = try entry(txn, database, index)
            if inKey {
                var damaged = key
                damaged[byte % damaged.count] ^= 0x04
                _ = try txn.delete(database, key: key)
                try txn.put(database, key: damaged, value: value)
                return DamagedRecord(database: database.name, key: damaged)
            }
            var damaged = value
            damaged[byte % damaged.count] ^= 0x10
            try txn.put(database, key: key, value: damaged)
            return DamagedRecord(database: database.name, key: key)
        }
    }

    /// Where the record of `name` is: the database of live records that holds it (`operations`
    /// or `done_by_creation`, keyed by create sequence), and its index there in key order.
    func position(of name: OperationName, in store: Store) throws -> (database: Database, entry: Int) {
        try store.read { reader in
            let found = try #require(try reader.record(Keys.name(name)))
            try #require(store.schema.liveRecords.contains(found.database))
            return (found.database, try reader.txn.withCursor(found.database) { cursor in
                var index = 0
                var entry = try cursor.first()
                while let (key, _) = entry, !key.elementsEqual(found.key) { index += 1; entry = try cursor.next() }
                return index
            })
        }
    }

    /// States equal but for the sequence of their last event (a repair appends one).
    func sameButLastSequence(_ a: OperationState?, _ b: OperationState?) -> Bool {
        guard var a, var b else { return a == nil && b == nil }
        a.lastSequence = 0
        b.lastSequence = 0
        return a == b
    }

    @Test func aDamagedOperationRecordIsNeverServed() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try populated(directory.child("data"))
        let target = name(3)
        let (database, entry) = try position(of: target, in: store)
        _ = try flip(store, database, entry: entry, byte: 20)
        #expect {
            try store.read { try $0.operation(target) }
        } throws: { error in
            let error = error as? StoreError
            return error?.kind == .dataLoss && error?.damage?.database == database.name && error?.damage?.operation == target
                && error?.message.contains("longrun repair") == true
        }
        // Its neighbours are still served.
        #expect(try store.read { try $0.operation(name(4)) } != nil)
        #expect(try store.read { try $0.operation(name(2)) } != nil)
    }

    /// List finds each record by the create sequence its index entry's key ends with, and reads
    /// nothing else of the entry: a damaged value (the name it holds for the scrub and repair)
    /// changes no page, and the scrub finds it.
    @Test func aDamagedIndexEntrysValueChangesNoListPage() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try populated(directory.child("data"))
        let before = try store.read { try $0.list(ListQuery(collection: .root, pageSize: 100)) }
        let damage = try flip(store, store.schema.byCreation, entry: 0, byte: 6)
        let after = try store.read { try $0.list(ListQuery(collection: .root, pageSize: 100)) }
        #expect(after.operations == before.operations && after.resumeAfter == before.resumeAfter)
        #expect(try Scrubber.run(store).contains { $0.kind == .damagedRecord && $0.database == damage.database && $0.key == damage.key })
    }

    /// The third operation listed is done, the fourth running: each one's record is in its own
    /// database, which the error names.
    @Test(arguments: [2, 3])
    func aDamagedRecordFailsOnlyTheListPagesThatHoldIt(_ position: Int) throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try populated(directory.child("data"))
        let listed = try store.read { try $0.list(ListQuery(collection: .root, pageSize: 100)) }.operations
        try #require(listed.count > 6)
        let target = listed[position].name
        try #require(listed[position].done == (position == 2))
        let (database, entry) = try self.position(of: target, in: store)
        _ = try flip(store, database, entry: entry, byte: 20)

        // The page that ends just before it is whole, and says another page follows.
        let before = try store.read { try $0.list(ListQuery(collection: .root, pageSize: position)) }
        #expect(before.operations.map(\.name) == listed[..<position].map(\.name))
        #expect(before.resumeAfter == listed[position - 1].createSequence)
        // The page that holds it fails, naming it and where it is.
        for size in [position + 1, 100] {
            #expect {
                try store.read { try $0.list(ListQuery(collection: .root, pageSize: size)) }
            } throws: { error in
                let error = error as? StoreError
                return error?.kind == .dataLoss && error?.damage?.operation == target && error?.damage?.database == database.name
            }
        }
        // Pages after it are served.
        let after = try store.read { try $0.list(ListQuery(collection: .root, afterCreateSequence: listed[position].createSequence, pageSize: 100)) }
        #expect(after.operations.map(\.name) == listed[(position + 1)...].map(\.name))
    }

    @Test func aDamagedEventIsNotServedAndTheChainNamesIt() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try populated(directory.child("data"))
        _ = try flip(store, store.schema.log, entry: 4, byte: 50)
        #expect { try store.read { try $0.event(at: 5) } } throws: { ($0 as? StoreError)?.damage?.sequence == 5 }
        let findings = try Scrubber.run(store)
        #expect(findings.map(\.kind) == [.brokenChain])
        #expect(findings.first?.sequence == 5)
        #expect(findings.first?.repairable == false)
        // A damaged checksum with an intact chain is a finding of its own.
        let other = try flip(store, store.schema.log, entry: 9, byte: 1)
        #expect(try Scrubber.run(store).contains { $0.kind == .damagedRecord && $0.sequence == other.sequence })
    }

    @Test(arguments: ["operations_by_creation", "by_creation", "running", "history_by_creation", "request_ids", "engine_deadlines", "expiry_candidates",
                      "tombstones", "names"])
    func aDamagedViewRecordIsFoundInOnePassAndRepairedFromTheLog(_ databaseName: String) throws {
        for inKey in [false, true] {
            let directory = TemporaryDirectory()
            defer { directory.remove() }
            let store = try populated(directory.child("data"))
            let before = try states(store)
            let database = try #require(store.schema.views.first { $0.name == databaseName })
            let count = try store.read { try $0.txn.count(database) }
            try #require(count > 0)
            let damage = try flip(store, database, entry: count / 2, byte: 7, inKey: inKey)

            let findings = try Scrubber.run(store)
            #expect(findings.contains { $0.kind == .damagedRecord && $0.database == databaseName && $0.key == damage.key },
                    "\(databaseName) \(inKey ? "key" : "value"): \(findings)")
            #expect(findings.allSatisfy { $0.repairable })

            let report = try store.repair(findings, actor: .engine, now: t0 + .seconds(5000))
            #expect(report.remaining.isEmpty, "\(report.remaining)")
            #expect(report.unrepairable.isEmpty)
            #expect(!report.repaired.isEmpty || report.droppedEntries > 0)
            #expect(try Scrubber.run(store).isEmpty)
            let verified = try store.verify(scratchDirectory: directory.child("scratch-\(inKey)"), logger: logger)
            #expect(verified.isHealthy, "\(verified.problems)")
            let after = try states(store)
            for (operation, state) in before {
                #expect(sameButLastSequence(state, after[operation] ?? nil), "\(operation) changed by the repair of \(databaseName)")
            }
            // Each repaired operation says so in its history.
            for operation in report.repaired {
                let last = try store.read { try $0.events(of: operation, after: 0, limit: 1000) }.last
                #expect(last?.kind.label == "repaired")
            }
        }
    }

    /// A record whose checksum holds but whose name breaks a rule of names (as a faulty build, or
    /// a hand that sealed it again, would leave it): a List page reads names by their shape alone
    /// (the checksum vouches for the bytes the store wrote, and it checked every rule then), so it
    /// serves the page; the scrub checks every rule, reports it, and a repair rewrites it.
    @Test func aSealedRecordWhoseNameBreaksARuleIsFoundByTheScrub() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try populated(directory.child("data"))
        let target = name(1)
        let before = try states(store)
        let (database, entry) = try position(of: target, in: store)
        try store.environment.write { txn in
            let (key, value) = try self.entry(txn, database, entry)
            var body = Array(try #require(key.withUnsafeBytes { keyBytes in value.withUnsafeBytes { Checksum.body(key: keyBytes, value: $0) } }))
            // `op-1` → `Op-1`: the same shape and length, an id no name may have.
            let id = Array("/op-1".utf8)
            let at = try #require((0...(body.count - id.count)).first { body[$0..<($0 + id.count)].elementsEqual(id) })
            body[at + 1] = UInt8(ascii: "O")
            try txn.put(database, key: key, value: Checksum.seal(key: key, body: body))
        }
        let page = try store.read { try $0.list(ListQuery(collection: target.collection, pageSize: 100)) }
        #expect(page.operations.contains { $0.name.description == "tenants/acme/operations/Op-1" })
        let findings = try Scrubber.run(store)
        #expect(findings.contains { $0.kind == .viewDiffers && $0.database == database.name && $0.operation == target })
        let report = try store.repair(findings, actor: .engine, now: t0 + .seconds(300))
        #expect(report.repaired == [target])
        #expect(try Scrubber.run(store).isEmpty)
        #expect(sameButLastSequence(before[target] ?? nil, try store.read { try $0.operation(target) }))
    }

    @Test func repairRebuildsAnOperationWhoseEarlyEventsWereCompactedFromTheSnapshot() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try populated(directory.child("data"))
        let snapshot = try SnapshotFile.write(store, into: store.snapshotDirectory, keep: 3, createdUnixNanos: 0)
        let target = name(2)
        try store.write { writer in
            _ = try writer.append([.init(actor: Fixtures.producer, kind: .progressed(metadata: Fixtures.payload("M", "later")))], name: target, time: t0 + .seconds(100))
        }
        try store.compactLog(through: snapshot.sequence)
        let before = try states(store)
        let (database, entry) = try position(of: target, in: store)
        _ = try flip(store, database, entry: entry, byte: 30)
        let findings = try Scrubber.run(store)
        #expect(findings.contains { $0.operation == target })
        let report = try store.repair(findings, actor: .engine, now: t0 + .seconds(200))
        #expect(report.repaired == [target])
        #expect(report.remaining.isEmpty && report.unrepairable.isEmpty)
        #expect(sameButLastSequence(before[target] ?? nil, try store.read { try $0.operation(target) }))
    }

    @Test func oneRepairRebuildsEveryDamagedOperationAtOnce() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try populated(directory.child("data"))
        let before = try states(store)
        var count = 0
        for database in store.schema.liveRecords {
            let records = try store.read { try $0.txn.count(database) }
            for entry in 0..<records { _ = try flip(store, database, entry: entry, byte: 11) }
            count += records
        }
        try #require(store.schema.liveRecords.allSatisfy { database in (try? store.read { try $0.txn.count(database) }) ?? 0 > 0 })
        _ = try flip(store, store.schema.running, entry: 0, byte: 2)
        _ = try flip(store, store.schema.history, entry: 5, byte: 1, inKey: true)
        let findings = try Scrubber.run(store)
        let report = try store.repair(findings, actor: .engine, now: t0 + .seconds(7000))
        #expect(report.repaired.count == count)
        #expect(report.remaining.isEmpty && report.unrepairable.isEmpty)
        #expect(try Scrubber.run(store).isEmpty)
        #expect(try store.verify(scratchDirectory: directory.child("scratch"), logger: logger).isHealthy)
        let after = try states(store)
        for (operation, state) in before { #expect(sameButLastSequence(state, after[operation] ?? nil), "\(operation)") }
    }

    @Test func repairRefusesToRebuildFromADamagedLog() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try populated(directory.child("data"))
        _ = try flip(store, store.schema.log, entry: 2, byte: 40)
        _ = try flip(store, store.schema.operations, entry: 5, byte: 9)
        let findings = try Scrubber.run(store)
        #expect {
            try store.repair(findings, actor: .engine, now: t0)
        } throws: { ($0 as? DomainError)?.reason == .logDamaged }
    }

    /// A byte flipped in the header (offset 14: its sequence) or in the body of a snapshot.
    @Test(arguments: [14, 200])
    func aDamagedSnapshotIsAFindingAndNotRepairable(_ offset: Int) throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try populated(directory.child("data"))
        let snapshot = try SnapshotFile.write(store, into: store.snapshotDirectory, keep: 3, createdUnixNanos: 0)
        let fd = open(snapshot.path, O_RDWR)
        var byte: UInt8 = 0
        #expect(pread(fd, &byte, 1, off_t(offset)) == 1)
        byte ^= 0x01
        #expect(pwrite(fd, &byte, 1, off_t(offset)) == 1)
        close(fd)
        let findings = try Scrubber.run(store)
        #expect(findings.map(\.kind) == [.snapshotDamaged])
        #expect(findings.first?.repairable == false)
        // Recovery never starts from it.
        #expect(try store.usableSnapshot(upTo: .max) == nil)
    }

    /// Seeded: one random bit flipped in a random record of a random database. The damaged value
    /// is never served, the scrub finds it in one pass, and repair (for views) restores a store
    /// that verifies. Replay with LONGRUN_TEST_SEED.
    @Test func randomDamageIsCaughtAndRepaired() throws {
        let seed = getenv("LONGRUN_TEST_SEED").flatMap { UInt64(String(cString: $0)) } ?? UInt64.random(in: 1...UInt64.max)
        print("ChecksumTests seed: \(seed) (replay with LONGRUN_TEST_SEED=\(seed))")
        var random = SplitMix64(seed: seed)
        for round in 0..<12 {
            let directory = TemporaryDirectory()
            defer { directory.remove() }
            let store = try populated(directory.child("data"))
            let before = try states(store)
            let database = random.pick(store.schema.checksummed)
            let count = try store.read { try $0.txn.count(database) }
            guard count > 0 else { continue }
            let inKey = database != store.schema.log && random.chance(30)
            let damage = try flip(store, database, entry: Int.random(in: 0..<count, using: &random),
                                  byte: Int.random(in: 0..<64, using: &random), inKey: inKey)
            let label = "round \(round), \(damage), key \(inKey) (seed \(seed))"

            // Never served: every read gives the true state or DATA_LOSS. (A record moved under
            // another key is not there to be read: its operation reads as absent until the scrub.)
            for (operation, state) in before {
                do {
                    let served = try store.read { try $0.operation(operation) }
                    let moved = inKey && (store.schema.holdsRecords(database) || database == store.schema.names) && served == nil
                    #expect(served == state || moved, "\(label): \(operation) served a wrong state")
                } catch let error as StoreError {
                    #expect(error.kind == .dataLoss, "\(label)")
                }
                do {
                    let events = try store.read { try $0.events(of: operation, after: 0, limit: 1000) }
                    #expect(events.allSatisfy { $0.name == operation }, "\(label): history of \(operation) served another's event")
                } catch let error as StoreError {
                    #expect(error.kind == .dataLoss, "\(label)")
                }
            }
            let findings = try Scrubber.run(store)
            #expect(!findings.isEmpty, "\(label): the scrub missed it")
            guard database != store.schema.log else {
                #expect(findings.allSatisfy { !$0.repairable }, "\(label): \(findings)")
                continue
            }
            let report = try store.repair(findings, actor: .engine, now: t0 + .seconds(9000))
            #expect(report.remaining.isEmpty && report.unrepairable.isEmpty, "\(label): \(report.remaining) \(report.unrepairable)")
            #expect(try Scrubber.run(store).isEmpty, "\(label)")
            let verified = try store.verify(scratchDirectory: directory.child("scratch"), logger: logger)
            #expect(verified.isHealthy, "\(label): \(verified.problems)")
            let after = try states(store)
            for (operation, state) in before {
                #expect(sameButLastSequence(state, after[operation] ?? nil), "\(label): \(operation)")
            }
        }
    }

    // MARK: The scrub's checkpoint

    @Test func openingChecksOnlyTheLogAfterTheScrubsCheckpoint() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.child("data")
        var checkpoint: UInt64 = 0
        do {
            let store = try populated(path)
            let scrubber = Scrubber(store: store)
            while try scrubber.step(budget: 7) {}
            let (sequence, hash) = try #require(scrubber.verifiedLog)
            #expect(sequence == (try store.read { try $0.logHead() }))
            #expect(hash == (try store.read { try $0.headHash() }))
            try store.recordVerifiedLog(through: sequence, hash: hash)
            checkpoint = sequence
            try store.write { writer in
                _ = try writer.append([.init(actor: Fixtures.producer, kind: .created(.init()))], name: Fixtures.name("operations/later"), time: t0)
            }
            // Damage before the checkpoint: opening does not look there (the scrub does).
            _ = try flip(store, store.schema.log, entry: 3, byte: 60)
        }
        do {
            let store = try Store(directory: path, logger: logger)
            #expect(try Scrubber.run(store).contains { $0.sequence == 4 })
            // A scrub that finds damage in the log moves no checkpoint.
            let scrubber = Scrubber(store: store)
            while try scrubber.step(budget: 1000) {}
            #expect(scrubber.verifiedLog == nil)
            // Damage after the checkpoint is refused at open.
            _ = try flip(store, store.schema.log, entry: Int(checkpoint), byte: 60)
        }
        #expect {
            try Store(directory: path, logger: logger)
        } throws: { error in
            (error as? StoreError)?.kind == .dataLoss && "\(error)".contains("event \(checkpoint + 1)")
        }
    }

    @Test func aCheckpointTheLogNoLongerAgreesWithIsRefused() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.child("data")
        do {
            let store = try populated(path)
            try store.recordVerifiedLog(through: 10, hash: .genesis)
        }
        #expect {
            try Store(directory: path, logger: logger)
        } throws: { "\($0)".contains("event 10 of \(path) is not the one the scrub verified") }
    }

    // MARK: Format 1

    /// Turns a format-2 store into what format 1 wrote: records keyed by name (dead ones among
    /// them, as before `tombstones`), no checksums, format number 1.
    func downgrade(_ store: Store, stopAfter limit: Int? = nil) throws {
        try keyRecordsByName(store, withTombstones: true)
        try store.write { writer in
            try writer.txn.put(writer.schema.meta, key: Schema.MetaKey.viewSet, value: Array(Store.viewSetBeforeTombstones.utf8))
        }
        let legacy = try store.environment.openDatabase("operations")
        try store.environment.write { txn in
            for database in store.schema.checksummed + [legacy] {
                let entries: [([UInt8], [UInt8])] = try txn.withCursor(database) { cursor in
                    var entries: [([UInt8], [UInt8])] = []
                    var entry = try cursor.first()
                    while let (key, value) = entry { entries.append((Array(key), Array(value.dropFirst(4)))); entry = try cursor.next() }
                    return entries
                }
                for (key, value) in entries { try txn.put(database, key: key, value: value) }
            }
            try txn.put(store.schema.meta, key: Schema.MetaKey.formatVersion, value: [0, 0, 0, 1])
        }
    }

    @Test func aFormat1StoreIsConvertedInPlaceWhenOpenedForWriting() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var before: [OperationName: OperationState] = [:]
        var head = ChainHash.genesis
        do {
            let store = try populated(directory.child("data"))
            before = try states(store)
            head = try store.read { try $0.headHash() }
            try downgrade(store)
        }
        var readOnly = Store.Configuration()
        readOnly.readOnly = true
        #expect {
            try Store(directory: directory.child("data"), configuration: readOnly, logger: logger)
        } throws: { ($0 as? StoreError)?.kind == .unsupportedFormat && "\($0)".contains("Start longrund on it once") }

        let store = try Store(directory: directory.child("data"), logger: logger)
        #expect(try store.read { try $0.formatVersion() } == Schema.formatVersion)
        #expect(try states(store) == before)
        #expect(try store.read { try $0.headHash() } == head)
        #expect(try Scrubber.run(store).isEmpty)
        #expect(try store.verify(scratchDirectory: directory.child("scratch"), logger: logger).isHealthy)
    }

    @Test func anInterruptedConversionResumesWithoutSealingTwice() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var before: [OperationName: OperationState] = [:]
        do {
            let store = try populated(directory.child("data"))
            before = try states(store)
            try downgrade(store)
            // What a conversion killed part way through the log leaves: the first events sealed,
            // the progress key naming the last one.
            try store.environment.write { txn in
                for sequence in UInt64(1)...10 {
                    let key = Keys.sequence(sequence)
                    let value = Array(try #require(try txn.get(store.schema.log, key: key)))
                    try txn.put(store.schema.log, key: key, value: Checksum.seal(key: key, body: value))
                }
                try txn.put(store.schema.meta, key: Schema.MetaKey.upgradeProgress, value: [0] + Keys.sequence(10))
            }
        }
        let store = try Store(directory: directory.child("data"), logger: logger)
        #expect(try states(store) == before)
        #expect(try store.read { try $0.txn.get(store.schema.meta, key: Schema.MetaKey.upgradeProgress) } == nil)
        #expect(try Scrubber.run(store).isEmpty)
    }
}
