import LongrunDomain
import LongrunEngine
import LongrunStore
import LongrunTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Drives thousands of random commands against the engine and an in-memory model, comparing them
/// after every step, after concurrent rounds, and after closing and reopening the store, on every
/// storage backend (PostgreSQL when a test server is given: see `TestBackend`).
/// Replay a failure with `LONGRUN_TEST_SEED=<seed printed> swift test --filter ModelBasedTests`.
@Suite("Engine: model-based random test")
struct ModelBasedTests {
    static let collections = [CollectionName.root, try! CollectionName(parent: "tenants/acme"), try! CollectionName(parent: "tenants/globex")]
    /// Twenty small tenants, which a quarter of the commands go to (five ids each): `tenants/-`
    /// then covers 22 collections, more than a wildcard page on LMDB walks before it also scans
    /// the records, so its pages are read both ways and handed from one to the other.
    static let smallTenants = (0..<20).map { try! CollectionName(parent: "tenants/t\($0)") }
    /// Wildcard reads (AIP-159) and which collections each covers, stated here apart from the
    /// engine's rule: `tenants/-` is every tenant (not the root), `-` is every collection.
    static let wildcards: [(name: String, covers: @Sendable (CollectionName) -> Bool)] = [
        ("tenants/-/operations", { $0.parent.hasPrefix("tenants/") && $0.parent.split(separator: "/").count == 2 }),
        ("-", { _ in true }),
    ]

    @Test(arguments: TestBackend.available)
    func theEngineBehavesLikeTheModel(on backend: TestBackend) async throws {
        let seed = getenv("LONGRUN_TEST_SEED").flatMap { UInt64(String(cString: $0)) } ?? UInt64.random(in: 1...UInt64.max)
        print("ModelBasedTests seed: \(seed) on \(backend)\(backend == .lmdb && seed % 2 == 0 ? ", compacting" : "") (replay with LONGRUN_TEST_SEED=\(seed))")
        var random = SplitMix64(seed: seed)
        // Half the seeds compact the log now and then (LMDB only), the others keep it whole, so
        // that the replay check at the end folds every history from its first event.
        let compacting = backend == .lmdb && seed % 2 == 0
        let place = try TestStorePlace(backend)
        let clock = ManualClock()
        let grace = Duration.seconds(5)
        let configure: (inout LongrunEngine.Configuration) -> Void = {
            $0.defaultCancelGrace = grace
            // Compaction (LMDB only) goes through the newest snapshot whatever its age.
            if compacting { $0.compactLogOlderThan = .zero }
        }
        var engine = try await place.openEngine(clock: clock, configure: configure)
        var model = OperationModel(defaultGrace: grace)
        let ids = (0..<30).map { "op-\($0)" }
        var failures = 0

        func randomName() -> OperationName {
            if random.next() % 4 == 0 {
                return try! OperationName(collection: Self.smallTenants[Int(random.next() % UInt64(Self.smallTenants.count))], id: ids[Int(random.next() % 5)])
            }
            return try! OperationName(collection: Self.collections[Int(random.next() % UInt64(Self.collections.count))], id: ids[Int(random.next() % UInt64(ids.count))])
        }
        func randomPayload(_ type: String) -> Payload? {
            random.next() % 4 == 0 ? nil : Fixtures.payload(type, String(random.next() % 1000))
        }
        func check(_ label: String, _ expected: OperationModel.Expected, _ body: () async throws -> Void) async {
            var actual = OperationModel.Expected.ok
            do { try await body() } catch let error as DomainError { actual = .error(error.kind) } catch {
                actual = .error(.outOfRange)
                Issue.record("\(label): unexpected error \(error) (seed \(seed), \(backend))")
            }
            if actual != expected {
                failures += 1
                Issue.record("\(label): engine \(actual), model \(expected) (seed \(seed), \(backend))")
            }
        }
        func compareEverything(_ when: String) async throws {
            for (name, operation) in model.operations {
                let engineState = try? await engine.get(name)
                if operation.deleted {
                    #expect(engineState == nil, "\(when): deleted \(name) is still served (seed \(seed))")
                } else {
                    for difference in model.differences(name, engine: engineState) { Issue.record("\(when): \(difference) (seed \(seed))") }
                }
            }
            for collection in Self.collections + Self.smallTenants {
                for runningOnly in [false, true] {
                    var token = ""
                    var listed: [String] = []
                    repeat {
                        let page = try await engine.list(ListRequest(name: collection.description, filter: runningOnly ? "done = false" : "",
                                                               pageSize: Int32(random.next() % 7 + 1), pageToken: token))
                        listed += page.operations.map(\.name.description)
                        token = page.nextPageToken
                    } while !token.isEmpty
                    let expected = model.list(collection, runningOnly: runningOnly).map(\.name.description)
                    #expect(listed == expected, "\(when): list \(collection) runningOnly=\(runningOnly) (seed \(seed))")
                }
            }
            for wildcard in Self.wildcards {
                for runningOnly in [false, true] {
                    var token = ""
                    var listed: [String] = []
                    repeat {
                        let page = try await engine.list(ListRequest(name: wildcard.name, filter: runningOnly ? "done = false" : "",
                                                               pageSize: Int32(random.next() % 7 + 1), pageToken: token))
                        listed += page.operations.map(\.name.description)
                        token = page.nextPageToken
                    } while !token.isEmpty
                    let expected = model.list(where: wildcard.covers, runningOnly: runningOnly).map(\.name.description)
                    #expect(listed == expected, "\(when): list \(wildcard.name) runningOnly=\(runningOnly) (seed \(seed))")
                }
            }
        }

        for step in 0..<3000 {
            clock.advance(by: .milliseconds(Int64(random.next() % 400)))
            let name = randomName()
            switch random.next() % 100 {
            case 0..<22:
                let metadata = randomPayload("M")
                let requestID: String? = random.next() % 3 == 0 ? "req-\(random.next() % 20)" : nil
                let immediate = random.next() % 4 == 0
                let opGrace: Duration? = random.next() % 3 == 0 ? .seconds(Int64(random.next() % 10)) : nil
                // A lease sometimes: mostly 1 to 4 s, now and then one outside the limits.
                let lease: Duration? = switch random.next() % 8 {
                case 0..<3: .milliseconds(Int64(1000 + random.next() % 3000))
                case 3: random.next() % 2 == 0 ? .milliseconds(500) : .seconds(86_401)
                default: nil
                }
                let (expected, subject) = model.create(name, metadata: metadata, requestID: requestID, immediate: immediate, grace: opGrace,
                                                       lease: lease, now: clock.now())
                var returned: OperationName?
                await check("step \(step) create \(name)", expected) {
                    returned = try await engine.create(CreateRequest(collection: name.collection, id: name.id, metadata: metadata, requestID: requestID,
                                                                     cancellation: immediate ? .immediate : .cooperative(grace: opGrace), leaseTTL: lease),
                                                       actor: Fixtures.producer).name
                }
                if expected == .ok { #expect(returned == subject, "step \(step): create returned \(String(describing: returned)) (seed \(seed))") }
            case 22..<38:
                let metadata = randomPayload("M")
                let current = model.live(name)?.version
                let expectedVersion: UInt64? = random.next() % 2 == 0 ? nil : (random.next() % 4 == 0 ? (current ?? 0) + 1 : current)
                let expected = model.progress(name, metadata: metadata, expectedVersion: expectedVersion, now: clock.now())
                await check("step \(step) progress \(name)", expected) {
                    _ = try await engine.progress(name, metadata: metadata, expectedVersion: expectedVersion, actor: Fixtures.producer)
                }
            case 38..<50:
                let outcome: Outcome = random.next() % 3 == 0 ? .error(Status(code: Int32(random.next() % 16 + 1), message: "failed")) : .response(Fixtures.payload("R"))
                let expected = model.complete(name, outcome: outcome)
                await check("step \(step) complete \(name)", expected) {
                    _ = try await engine.complete(name, outcome: outcome, actor: Fixtures.producer)
                }
            case 50..<60:
                let expected = model.cancel(name, now: clock.now())
                await check("step \(step) cancel \(name)", expected) { _ = try await engine.cancel(name, actor: Fixtures.consumer) }
            case 60..<65:
                let expected = model.delete(name)
                await check("step \(step) delete \(name)", expected) { try await engine.delete(name, actor: Fixtures.consumer) }
            case 65..<72:
                model.enforceDeadlines(now: clock.now())
                try await engine.enforceDeadlines()
            case 72..<79:
                let expected = model.heartbeat(name, now: clock.now())
                await check("step \(step) heartbeat \(name)", expected) { _ = try await engine.heartbeat(name, actor: Fixtures.producer) }
            case 79..<82:
                let current = model.live(name)?.version ?? 1
                let expectedVersion = random.next() % 4 == 0 ? current + 1 : current
                let lease: Duration? = random.next() % 2 == 0 ? nil : .milliseconds(Int64(1000 + random.next() % 3000))
                let expected = model.adopt(name, expectedVersion: expectedVersion, lease: lease, now: clock.now())
                await check("step \(step) adopt \(name)", expected) {
                    _ = try await engine.adopt(name, expectedVersion: expectedVersion, leaseTTL: lease, actor: Fixtures.producer)
                }
            case 82..<88:
                let expected: OperationModel.Expected = model.live(name) == nil ? .error(.notFound) : .ok
                await check("step \(step) wait \(name)", expected) { _ = try await engine.wait(name, timeout: .zero) }
            case 88..<96:
                // A concurrent round: one command per distinct name, all in flight at once, so the
                // writer batches them; each name's result is independent of the others' order.
                var round: [OperationName: Outcome] = [:]
                for _ in 0..<16 { round[randomName()] = .response(Fixtures.payload("R", String(random.next() % 100))) }
                let expectations = round.map { name, outcome in (name, outcome, model.complete(name, outcome: outcome)) }
                let current = engine
                let results = await withTaskGroup(of: (OperationName, OperationModel.Expected).self) { group in
                    for (name, outcome, _) in expectations {
                        group.addTask {
                            do {
                                _ = try await current.complete(name, outcome: outcome, actor: Fixtures.producer)
                                return (name, .ok)
                            } catch let error as DomainError { return (name, .error(error.kind)) } catch { return (name, .error(.outOfRange)) }
                        }
                    }
                    return await group.reduce(into: [OperationName: OperationModel.Expected]()) { $0[$1.0] = $1.1 }
                }
                for (name, _, expected) in expectations where results[name] != expected {
                    Issue.record("step \(step) concurrent complete \(name): engine \(String(describing: results[name])), model \(expected) (seed \(seed))")
                }
            case 97:
                // A bulk cancel of what runs, or a bulk delete of what is done, in one collection or
                // across a wildcard: each operation as its own command.
                let scope = random.next() % 3
                let (scopeName, covers): (String, @Sendable (CollectionName) -> Bool) = scope == 2
                    ? (name.collection.description, { [collection = name.collection] in $0 == collection })
                    : Self.wildcards[Int(scope)]
                let delete = random.next() % 2 == 0
                let expected = model.bulk(delete: delete, covers: covers, matches: { delete ? $0.outcome != nil : $0.outcome == nil }, now: clock.now())
                let report = try await engine.bulk(delete ? .delete : .cancel(reason: "bulk"), name: scopeName,
                                                   filter: delete ? "done = true" : "done = false", actor: Fixtures.consumer)
                if (report.matched, report.changed, report.unchanged, report.refusedCount) != (expected.matched, expected.changed, expected.unchanged, 0) {
                    failures += 1
                    Issue.record("step \(step) bulk \(delete ? "delete" : "cancel") in \(scopeName): engine \(report), model \(expected) (seed \(seed), \(backend))")
                }
            case 96 where compacting:
                // A snapshot at the head and the log compacted through it: the dead are forgotten.
                _ = try await engine.takeSnapshot()
                // An event after the snapshot, so compaction through it drops every event up to it
                // (the newest event always stays).
                let marker = try OperationName(collection: .root, id: "tick-\(step)")
                _ = model.create(marker, metadata: nil, requestID: nil, immediate: false, grace: nil, now: clock.now())
                _ = try await engine.create(CreateRequest(id: marker.id), actor: Fixtures.producer)
                _ = try await engine.compactLogIfDue()
                model.compacted()
                try await compareEverything("step \(step) after compaction")
            default:
                if random.next() % 3 == 0 {
                    engine.close()
                    engine = try await place.openEngine(clock: clock, configure: configure)
                    model.restarted(at: clock.now())
                    try await compareEverything("step \(step) after reopen")
                }
            }
            for difference in model.differences(name, engine: try? await engine.get(name)) where !(model.operations[name]?.deleted ?? true) {
                Issue.record("step \(step): \(difference) (seed \(seed))")
            }
            if step % 250 == 0 { try await compareEverything("step \(step)") }
            if failures > 10 { break }
        }
        try await compareEverything("end")
        engine.close()
        engine = try await place.openEngine(clock: clock, configure: configure)
        model.restarted(at: clock.now())
        try await compareEverything("after final reopen")
        engine.close()
        guard let directory = place.directory else {
            await place.remove()
            return
        }
        defer { directory.remove() }

        // Replay folds a chunk in memory and writes each operation once; it must leave exactly the
        // views that folding event by event left, for every history this run produced.
        let store = try Store(directory: directory.path, logger: Fixtures.quietLogger)
        let incremental = try store.viewsDigest()
        for chunk in [1, 7, 100_000] {
            // A compacted log is folded from its newest snapshot, as opening a store with lost views does.
            try store.rebuildViews(chunk: chunk, fromASnapshotOfOtherRules: compacting)
            #expect(try store.viewsDigest() == incremental, "views after a replay in chunks of \(chunk) differ (seed \(seed))")
        }
    }
}
