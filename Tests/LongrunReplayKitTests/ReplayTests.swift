import Foundation
import LongrunDomain
import LongrunEngine
import LongrunReplayKit
import LongrunStore
import LongrunTestSupport
import Synchronization
import Testing

@Suite("longrun-replay: verify and rebuild")
struct VerifyAndRebuildTests {
    let logger = Fixtures.quietLogger

    @Test func aHealthyStoreVerifiesAndTheScratchIsRemoved() async throws {
        try await withTemporaryDirectory { directory in
            let data = directory.child("data"), scratch = directory.child("scratch")
            try await Scenario.populate(data)
            try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: false)
            let store = try Scenario.open(data)
            let result = try Verification.run(store: store, scratchParent: scratch, logger: logger)
            #expect(result.isHealthy)
            #expect(result.exitCode == 0)
            #expect(result.report.events == 9)
            #expect(result.report.headSequence == 9)
            #expect(result.report.appliedSequence == 9)
            #expect(result.report.viewsDigest == result.report.rebuiltDigest)
            #expect(result.report.headHash == (try store.read { try $0.headHash() }))
            #expect(result.human.contains("OK: the hash chain holds"))
            #expect(result.human.split(separator: "\n").contains { $0.hasPrefix("head hash:") && $0.hasSuffix(result.report.headHash.description) })
            let json = try object(result.json)
            #expect(json["healthy"] as? Bool == true)
            #expect(unsigned(json["headSequence"]) == 9)
            #expect(json["headHash"] as? String == result.report.headHash.description)
            #expect((json["problems"] as? [Any])?.isEmpty == true)
            #expect(entries(of: scratch).isEmpty, "the scratch store is removed")
            #expect(!entries(of: data).contains("snapshots"), "verify writes nothing into the data directory")
        }
    }

    /// A log whose event 2 holds a distinctive payload; event 3 replaces it in the views, so only
    /// the log (and stale pages) hold those bytes.
    func corruptStore(_ data: String) async throws {
        do {
            let engine = try Fixtures.openEngine(data)
            defer { engine.close() }
            let name = try await engine.create(CreateRequest(id: "victim"), actor: Fixtures.producer).name
            _ = try await engine.progress(name, metadata: Fixtures.payload("test.Secret", "CORRUPT-ME-12345"), actor: Fixtures.producer)
            _ = try await engine.progress(name, metadata: Fixtures.payload("test.Secret", "something else"), actor: Fixtures.producer)
            _ = try await engine.complete(name, outcome: .response(Fixtures.payload("test.Result")), actor: Fixtures.producer)
        }
        #expect(try flipBytes(of: "CORRUPT-ME-12345", in: data + "/data.mdb") >= 1)
    }

    @Test func aFlippedByteInOneEventIsDataLossAtThatEvent() async throws {
        try await withTemporaryDirectory { directory in
            let data = directory.child("data")
            try await corruptStore(data)
            let store = try Scenario.open(data)
            let result = try Verification.run(store: store, scratchParent: directory.path, logger: logger)
            #expect(!result.isHealthy)
            #expect(result.exitCode == 2)
            #expect(result.report.firstBadSequence == 2)
            #expect(result.logProblem?.kind == .brokenChain)
            #expect(result.report.events == 1, "event 1 was checked before the damage")
            #expect(result.human.contains("DATA_LOSS: event 2 "))
            #expect(result.human.contains("--until 1"))
            let json = try object(result.json)
            #expect(json["healthy"] as? Bool == false)
            #expect(unsigned(json["firstBadSequence"]) == 2)
            #expect(json["headHash"] is NSNull)
            let problem = try #require((json["problems"] as? [[String: Any]])?.first)
            #expect(problem["code"] as? String == "DATA_LOSS")
            #expect(unsigned(problem["sequence"]) == 2)

            // A full rebuild refuses the damaged log; --until cuts it before the damage.
            let refusal = #expect(throws: ReplayError.self) {
                try Rebuild.run(source: store, into: directory.child("full"), logger: logger)
            }
            #expect(refusal?.message.contains("damaged at event 2") == true)
            #expect(refusal?.message.contains("--until 1") == true)
            #expect(!FileSystem.exists(directory.child("full")), "nothing is left behind")
            #expect(entries(of: directory.path).allSatisfy { !$0.contains(".rebuilding-") })
            let cut = try Rebuild.run(source: store, into: directory.child("cut"), until: 1, logger: logger)
            #expect(cut.lastSequence == 1)
            #expect(cut.sourceHead == 4)
            let reopened = try Store(directory: directory.child("cut"), logger: logger)
            #expect(try reopened.read { try $0.logHead() } == 1)
            #expect(try reopened.read { try $0.operation(Fixtures.name("operations/victim"))?.version } == 1)
        }
    }

    @Test func aRebuildHasTheSourceViewsAndTheDaemonOpensIt() async throws {
        try await withTemporaryDirectory { directory in
            let data = directory.child("data"), target = directory.child("new/store")
            try await Scenario.populate(data)
            let before = entries(of: data)
            let result: Rebuild
            do {
                let store = try Scenario.open(data)
                result = try Rebuild.run(source: store, into: target + "/", snapshot: .none, logger: logger)
                #expect(result.viewsDigest == (try store.viewsDigest()))
                #expect(result.headHash == (try store.read { try $0.headHash() }).description)
                #expect(result.firstSequence == 1 && result.lastSequence == 9)
                #expect(result.liveOperations == 2)
                #expect(result.snapshotPath == nil)
                #expect(result.human.contains("longrund --data-dir \(target)"))
                #expect(try object(result.json)["start"] as? String == "longrund --data-dir \(target)")

                // Never over an existing directory, never inside the source.
                #expect(throws: ReplayError.self) { try Rebuild.run(source: store, into: target, logger: logger) }
                #expect(throws: ReplayError.self) { try Rebuild.run(source: store, into: data + "/rebuilt", logger: logger) }
                #expect(throws: ReplayError.self) { try Rebuild.run(source: store, into: directory.child("x"), until: 10, logger: logger) }
            }
            #expect(entries(of: data) == before, "the source directory is unchanged")
            #expect(entries(of: directory.child("new")) == ["store"])

            // The daemon's way of opening (chain check of the recent log, replay) accepts it, and
            // new events continue the chain.
            do {
                let store = try Store(directory: target, logger: logger)
                #expect(try store.read { try $0.appliedSequence() } == 9)
                #expect(try store.read { try $0.operation(Scenario.bravo)?.isDeleted } == true)
            }
            do {
                let engine = try Fixtures.openEngine(target)
                defer { engine.close() }
                #expect(try await engine.get(Scenario.alpha).done)
                _ = try await engine.create(CreateRequest(id: "delta"), actor: Fixtures.producer)
                #expect(try await engine.appliedSequence() == 10)
            }
            let check = try Verification.run(store: try Scenario.open(target), scratchParent: directory.path, logger: logger)
            #expect(check.isHealthy)
            #expect(check.report.events == 10)
        }
    }

    /// A commit while verify runs (the daemon serving the directory) is noted, not reported as a problem.
    @Test func aCommitDuringVerifyIsNotAProblem() async throws {
        try await withTemporaryDirectory { directory in
            let data = directory.child("data")
            try await Scenario.populate(data)
            let store = try Store(directory: data, logger: logger)  // writable: plays the daemon too
            let appended = Mutex(false)
            let result = try Verification.run(store: store, scratchParent: directory.path, logger: logger, progress: { progress in
                guard progress.phase == "checking the log", appended.withLock({ done in defer { done = true }; return !done }) else { return }
                _ = try? store.write { writer in
                    try writer.append([.init(actor: Fixtures.producer, kind: .progressed(metadata: nil))], name: Scenario.charlie, time: Scenario.time(ofEvent: 10))
                }
            })
            #expect(appended.withLock { $0 })
            #expect(result.report.headSequence == 9)
            #expect(result.report.appliedSequence == 10)
            #expect(result.isHealthy, "\(result.report.problems)")
            #expect(result.notes.count == 1)
            #expect(result.report.viewsDigest == result.report.rebuiltDigest)
        }
    }

    @Test func onlyLongrunStoresAreOpenedAndNothingIsCreated() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        #expect(throws: ReplayError.self) { try ReplaySource.open(directory.child("missing"), logger: logger) }
        #expect(!FileSystem.exists(directory.child("missing")))
        #expect(throws: ReplayError.self) { try ReplaySource.open(directory.path, logger: logger) }
        #expect(entries(of: directory.path).isEmpty)
        #expect(FileManager.default.createFile(atPath: directory.child("data.mdb"), contents: Data(repeating: 7, count: 8192)))
        #expect(throws: StoreError.self) { try ReplaySource.open(directory.path, logger: logger) }
    }

    @Test func rebuildUntilKeepsThePrefix() async throws {
        try await withTemporaryDirectory { directory in
            let data = directory.child("data"), target = directory.child("at5")
            try await Scenario.populate(data)
            let result = try Rebuild.run(source: try Scenario.open(data), into: target, until: 5, logger: logger)
            #expect(result.lastSequence == 5)
            #expect(result.human.contains("4 more after it, left out"))
            let store = try Store(directory: target, logger: logger)
            let (head, alpha, bravo, charlie) = try store.read { reader in
                (try reader.logHead(), try reader.operation(Scenario.alpha), try reader.operation(Scenario.bravo), try reader.operation(Scenario.charlie))
            }
            #expect(head == 5)
            #expect(alpha?.done == false)
            #expect(alpha?.metadata == Fixtures.payload("test.Progress", "half"))
            #expect(bravo?.done == true && bravo?.isDeleted == false)
            #expect(charlie == nil)
        }
    }
}

@Suite("longrun-replay: dump and history")
struct DumpAndHistoryTests {
    func dump(_ store: Store, _ query: DumpQuery, batchSize: Int = EventDump.batchSize) async throws -> [String] {
        var lines: [String] = []
        try await EventDump.run(store: store, query: query, batchSize: batchSize) { lines.append($0) }
        return lines
    }

    @Test func dumpSelectsBySequenceTimeAndName() async throws {
        try await withTemporaryDirectory { directory in
            try await Scenario.populate(directory.path)
            let store = try Scenario.open(directory.path)
            let all = try await dump(store, DumpQuery())
            #expect(try sequences(all) == Array(1...9))
            #expect(try await dump(store, DumpQuery(), batchSize: 2) == all, "batches do not change the output")
            #expect(try await sequences(dump(store, DumpQuery(fromSequence: 3, toSequence: 5))) == [3, 4, 5])
            #expect(try await sequences(dump(store, DumpQuery(fromSequence: 8))) == [8, 9])
            #expect(try await sequences(dump(store, DumpQuery(toSequence: 2))) == [1, 2])
            #expect(try await dump(store, DumpQuery(fromSequence: 10)).isEmpty)
            #expect(try await dump(store, DumpQuery(fromSequence: 6, toSequence: 5)).isEmpty)
            // Times are inclusive: event N is at t0 + N s.
            #expect(try await sequences(dump(store, DumpQuery(since: Scenario.time(ofEvent: 6), until: Scenario.time(ofEvent: 8)))) == [6, 7, 8])
            #expect(try await sequences(dump(store, DumpQuery(since: Scenario.time(ofEvent: 6) + .milliseconds(1)))) == [7, 8, 9])
            #expect(try await dump(store, DumpQuery(until: Scenario.t0)).isEmpty)
            #expect(try await sequences(dump(store, DumpQuery(fromSequence: 2, until: Scenario.time(ofEvent: 3)))) == [2, 3])
            // One operation's events, deleted ones included, combined with a range.
            #expect(try await sequences(dump(store, DumpQuery(name: Scenario.alpha))) == [1, 3, 5, 9])
            #expect(try await sequences(dump(store, DumpQuery(name: Scenario.alpha), batchSize: 1)) == [1, 3, 5, 9])
            #expect(try await sequences(dump(store, DumpQuery(fromSequence: 4, name: Scenario.alpha))) == [5, 9])
            #expect(try await sequences(dump(store, DumpQuery(name: Scenario.bravo))) == [2, 4, 8])
            #expect(try await dump(store, DumpQuery(name: Fixtures.name("operations/nobody"))).isEmpty)

            // The lines are longrun.v1.OperationEvent in the JSON mapping, progressed with the version.
            let fifth = try object(all[4])
            #expect(fifth["name"] as? String == "operations/alpha")
            #expect(fifth["time"] as? String == "2027-01-15T08:00:05Z")
            let progressed = try #require(fifth["progressed"] as? [String: Any])
            #expect(unsigned(progressed["version"]) == 3)
            #expect((fifth["actor"] as? [String: Any])?["label"] as? String == "producer")
            // A dump starting after an operation's creation still knows its version.
            let late = try await dump(store, DumpQuery(fromSequence: 5, toSequence: 5))
            #expect(unsigned((try object(late[0])["progressed"] as? [String: Any])?["version"]) == 3)
            #expect(try object(all[7])["deleted"] != nil)
        }
    }

    @Test func historyOfADeletedOperation() async throws {
        try await withTemporaryDirectory { directory in
            try await Scenario.populate(directory.path)
            let store = try Scenario.open(directory.path)
            let lines = try await EventDump.historyLines(store: store, name: Scenario.bravo)
            #expect(try sequences(lines) == [2, 4, 8])
            let kinds = try lines.map { line in try object(line).keys.first { ["created", "completed", "deleted"].contains($0) } }
            #expect(kinds == ["created", "completed", "deleted"])
            #expect((try object(lines[2])["actor"] as? [String: Any])?["label"] as? String == "consumer")

            let table = try await EventDump.historyTable(store: store, name: Scenario.bravo).split(separator: "\n")
            #expect(table.count == 4)
            #expect(table[0].hasPrefix("SEQ"))
            #expect(table[0].contains("TIME") && table[0].contains("KIND") && table[0].contains("ACTOR") && table[0].contains("DETAIL"))
            #expect(table[3].hasPrefix("8") && table[3].contains("2027-01-15T08:00:08Z") && table[3].contains("deleted"))
            #expect(table[2].contains("completed") && table[2].contains("ok"))

            let alpha = try await EventDump.historyTable(store: store, name: Scenario.alpha)
            #expect(alpha.contains("v3"), "progressed rows show the version")
            await #expect(throws: ReplayError.self) { try await EventDump.historyLines(store: store, name: Fixtures.name("operations/never")) }
        }
    }
}

@Suite("longrun-replay: state as of a point")
struct StateAtTests {
    let logger = Fixtures.quietLogger

    func state(_ store: Store, _ query: StateQuery, scratch: String) async throws -> StateAt {
        try await StateAt.run(store: store, query: query, scratchParent: scratch, logger: logger)
    }

    @Test func pointsInTimeParse() {
        #expect(PointInTime(parsing: "42") == .sequence(42))
        #expect(PointInTime(parsing: "0") == .sequence(0))
        #expect(PointInTime(parsing: "2027-01-15T08:00:05Z") == .time(Scenario.time(ofEvent: 5)))
        #expect(PointInTime(parsing: "2027-01-15T09:00:05+01:00") == .time(Scenario.time(ofEvent: 5)))
        #expect(PointInTime(parsing: "-1") == nil)
        #expect(PointInTime(parsing: "yesterday") == nil)
        #expect(PointInTime(parsing: "") == nil)
    }

    @Test func anOperationRunningAtFiveAndDoneAtNine() async throws {
        try await withTemporaryDirectory { directory in
            let data = directory.child("data"), scratch = directory.child("scratch")
            try await Scenario.populate(data)
            try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: false)
            let store = try Scenario.open(data)

            let at5 = try await state(store, StateQuery(at: .sequence(5), name: Scenario.alpha), scratch: scratch)
            guard case .operation(let running) = at5.content else { Issue.record("\(at5.content)"); return }
            #expect(!running.done)
            #expect(running.version == 3)
            #expect(running.metadata == Fixtures.payload("test.Progress", "half"))
            #expect(at5.time == Scenario.time(ofEvent: 5))
            #expect(at5.human.contains("as of event 5 (2027-01-15T08:00:05Z)"))
            #expect(at5.human.contains("done:") && at5.human.contains("no"))
            let json = try object(at5.jsonLines[0])
            #expect(json["deleted"] as? Bool == false)
            #expect(unsigned(json["version"]) == 3)
            #expect((json["operation"] as? [String: Any])?["done"] as? Bool == false, "every field is present (docs/JSON.md)")

            let at9 = try await state(store, StateQuery(at: .sequence(9), name: Scenario.alpha), scratch: scratch)
            guard case .operation(let done) = at9.content else { Issue.record("\(at9.content)"); return }
            #expect(done.done)
            #expect(done.outcome == .response(Fixtures.payload("test.Result", "done")))
            #expect(done.endTime == Scenario.time(ofEvent: 9))

            // A time names the last event at or before it.
            let byTime = try await state(store, StateQuery(at: .time(Scenario.time(ofEvent: 5) + .milliseconds(500)), name: Scenario.alpha), scratch: scratch)
            #expect(byTime.sequence == 5)
            #expect(byTime.content == at5.content)
            #expect(try await state(store, StateQuery(at: .time(Scenario.time(ofEvent: 8)), name: Scenario.alpha), scratch: scratch).sequence == 8)
            await #expect(throws: ReplayError.self) { try await state(store, StateQuery(at: .time(Scenario.t0), name: Scenario.alpha), scratch: scratch) }
            await #expect(throws: ReplayError.self) { try await state(store, StateQuery(at: .sequence(10), name: Scenario.alpha), scratch: scratch) }
            #expect(entries(of: scratch).isEmpty, "scratch stores are removed")
        }
    }

    @Test func deletedAbsentAndListed() async throws {
        try await withTemporaryDirectory { directory in
            let data = directory.child("data")
            try await Scenario.populate(data)
            let store = try Scenario.open(data)

            let deleted = try await state(store, StateQuery(at: .sequence(8), name: Scenario.bravo), scratch: directory.path)
            guard case .deleted(let last) = deleted.content else { Issue.record("\(deleted.content)"); return }
            #expect(last.done)
            #expect(last.deletion?.actor == Fixtures.consumer)
            #expect(deleted.human.contains("deleted at event 8"))
            #expect(try object(deleted.jsonLines[0])["deleted"] as? Bool == true)
            #expect(deleted.exitCode == 0)
            let beforeDeletion = try await state(store, StateQuery(at: .sequence(7), name: Scenario.bravo), scratch: directory.path)
            guard case .operation = beforeDeletion.content else { Issue.record("\(beforeDeletion.content)"); return }

            let absent = try await state(store, StateQuery(at: .sequence(5), name: Scenario.charlie), scratch: directory.path)
            #expect(absent.content == .absent(Scenario.charlie, createdAt: 6))
            #expect(absent.exitCode == 1)
            #expect(absent.human.contains("created later, at event 6"))
            #expect(try object(absent.jsonLines[0])["exists"] as? Bool == false)

            func names(_ result: StateAt) -> [String] {
                guard case .list(let operations) = result.content else { return ["not a list"] }
                return operations.map(\.name.id)
            }
            #expect(names(try await state(store, StateQuery(at: .sequence(5)), scratch: directory.path)) == ["alpha", "bravo"])
            #expect(names(try await state(store, StateQuery(at: .sequence(5), filter: Filter(parsing: "done = false")), scratch: directory.path)) == ["alpha"])
            #expect(names(try await state(store, StateQuery(at: .sequence(9)), scratch: directory.path)) == ["alpha", "charlie"])
            #expect(names(try await state(store, StateQuery(at: .sequence(9), filter: Filter(parsing: "done = true")), scratch: directory.path)) == ["alpha"])
            #expect(names(try await state(store, StateQuery(at: .sequence(7), filter: Filter(parsing: "cancel_requested")), scratch: directory.path)) == ["charlie"])
            #expect(names(try await state(store, StateQuery(at: .sequence(0)), scratch: directory.path)) == [])
            #expect(names(try await state(store, StateQuery(at: .sequence(9), collection: CollectionName(parent: "tenants/acme")), scratch: directory.path)) == [])
            let listed = try await state(store, StateQuery(at: .sequence(9)), scratch: directory.path)
            #expect(listed.human.hasPrefix("2 operations in operations as of event 9"))
            #expect(try listed.jsonLines.map { try object($0)["name"] as? String } == ["operations/alpha", "operations/charlie"])
        }
    }
}

@Suite("longrun-replay: snapshots")
struct SnapshotTests {
    let logger = Fixtures.quietLogger

    @Test func takeListVerifyRestore() async throws {
        try await withTemporaryDirectory { directory in
            let data = directory.child("data")
            try await Scenario.populate(data)
            let taken: Snapshots.Taken
            do {
                let store = try Scenario.open(data)
                taken = try Snapshots.take(store: store, keep: 3, now: Scenario.t0 + .seconds(60))
                #expect(taken.written)
                #expect(taken.header.sequence == 9)
                #expect(taken.info.path.hasPrefix(data + "/snapshots/"))
                #expect(try !Snapshots.take(store: store, keep: 3).written, "one snapshot per sequence")

                let listed = try Snapshots.list(store: store)
                #expect(listed.count == 1)
                #expect(listed[0].isGood && listed[0].anchored == true)
                #expect(listed[0].sequence == 9)
                #expect(listed[0].header?.createdUnixNanos == (Scenario.t0 + .seconds(60)).nanosecondsSinceEpoch)
                let table = Snapshots.table(listed)
                #expect(table.contains("2027-01-15T08:01:00Z") && table.contains("verified") && table.contains(taken.info.path))
                #expect(Snapshots.verifyLines(listed) == ["ok \(taken.info.path) (event 9, \(taken.header.records) records, chain hash matches the log)"])
                #expect(try object(listed[0].json)["anchored"] as? Bool == true)

                // Restore: the snapshot's views plus the log; the same views as the source.
                let restored = try Rebuild.run(source: store, into: directory.child("restored"), snapshot: .file(taken.info.path), logger: logger)
                #expect(restored.snapshotSequence == 9)
                #expect(restored.warnings.isEmpty)
                #expect(restored.viewsDigest == (try store.viewsDigest()))
                // The default rebuild starts from it as well.
                let rebuilt = try Rebuild.run(source: store, into: directory.child("rebuilt"), logger: logger)
                #expect(rebuilt.snapshotPath == taken.info.path)
                #expect(throws: ReplayError.self) {
                    try Rebuild.run(source: store, into: directory.child("early"), snapshot: .file(taken.info.path), until: 5, logger: logger)
                }
            }
            let reopened = try Store(directory: directory.child("restored"), logger: logger)
            #expect(try reopened.read { try $0.operation(Scenario.alpha)?.done } == true)
            #expect(try reopened.read { try $0.logHead() } == 9)
        }
    }

    @Test func stateAfterASnapshotUsesIt() async throws {
        try await withTemporaryDirectory { directory in
            let data = directory.child("data")
            try await Scenario.populate(data)
            do { _ = try Snapshots.take(store: try Scenario.open(data), keep: 3) }
            try await Scenario.appendMore(data, count: 3, prefix: "more")
            let store = try Scenario.open(data)
            #expect(try store.usableSnapshot(upTo: 12)?.sequence == 9)
            let result = try await StateAt.run(store: store, query: StateQuery(at: .sequence(11), filter: Filter(parsing: "done = true")), scratchParent: directory.path, logger: logger)
            guard case .list(let operations) = result.content else { Issue.record("\(result.content)"); return }
            #expect(operations.map(\.name.id) == ["alpha", "more-0"])
            let early = try await StateAt.run(store: store, query: StateQuery(at: .sequence(5), name: Scenario.alpha), scratchParent: directory.path, logger: logger)
            guard case .operation(let alpha) = early.content else { Issue.record("\(early.content)"); return }
            #expect(!alpha.done, "before the snapshot, the log is replayed from the start")
        }
    }

    @Test func aDamagedSnapshotIsDetectedAndSkipped() async throws {
        try await withTemporaryDirectory { directory in
            let data = directory.child("data")
            try await Scenario.populate(data)
            let path: String
            do { path = try Snapshots.take(store: try Scenario.open(data), keep: 3).info.path }
            try flipByte(at: -40, in: path)

            let store = try Scenario.open(data)
            let status = try Snapshots.check(path: path, store: store)
            #expect(!status.isGood && !status.isIntact)
            #expect(status.status == "DAMAGED")
            #expect(Snapshots.verifyLines([status])[0].hasPrefix("DAMAGED \(path): "))
            #expect(status.problem?.contains("SHA-256") == true)

            let verification = try Verification.run(store: store, scratchParent: directory.path, logger: logger)
            #expect(verification.exitCode == 2)
            #expect(verification.report.problems.map(\.kind) == [.snapshotCorrupt])
            #expect(verification.human.contains("SNAPSHOT_DAMAGED: snapshot \(path)"))
            #expect(verification.report.firstBadSequence == nil)

            // Rebuilds skip it, or refuse it when it is asked for.
            let rebuilt = try Rebuild.run(source: store, into: directory.child("rebuilt"), logger: logger)
            #expect(rebuilt.snapshotPath == nil)
            #expect(rebuilt.viewsDigest == (try store.viewsDigest()))
            #expect(throws: StoreError.self) {
                try Rebuild.run(source: store, into: directory.child("restored"), snapshot: .file(path), logger: logger)
            }
            #expect(!FileSystem.exists(directory.child("restored")))
        }
    }

    @Test func aSnapshotOfAnotherHistoryIsUnusable() async throws {
        try await withTemporaryDirectory { directory in
            let data = directory.child("data"), other = directory.child("other")
            try await Scenario.populate(data)
            do {
                let engine = try Fixtures.openEngine(other)
                defer { engine.close() }
                for id in ["x", "y", "z"] { _ = try await engine.create(CreateRequest(id: id), actor: Fixtures.consumer) }
            }
            let foreign = try Snapshots.take(store: try Scenario.open(other), keep: 1).info
            #expect(foreign.sequence == 3)
            try FileManager.default.createDirectory(atPath: data + "/snapshots", withIntermediateDirectories: false)
            let planted = data + "/snapshots/" + String(foreign.path.split(separator: "/").last!)
            try FileManager.default.copyItem(atPath: foreign.path, toPath: planted)

            let store = try Scenario.open(data)
            let status = try Snapshots.list(store: store)
            #expect(status.count == 1)
            #expect(status[0].isIntact && !status[0].isGood)
            #expect(status[0].anchored == false)
            #expect(status[0].status == "UNUSABLE")
            #expect(throws: ReplayError.self) {
                try Rebuild.run(source: store, into: directory.child("restored"), snapshot: .file(planted), logger: logger)
            }
            // Outside the data directory it cannot be compared: restored with a warning.
            let outside = try Snapshots.check(path: foreign.path, store: store)
            #expect(outside.isGood && outside.anchored == nil)
            #expect(try Rebuild.run(source: store, into: directory.child("anyway"), snapshot: .none, logger: logger).snapshotPath == nil)
            // A snapshot of a later event than the log's head is another history as well.
            try await Scenario.appendMore(other, count: 5, prefix: "w")
            let ahead = try Snapshots.take(store: try Scenario.open(other), keep: 1).info
            #expect(ahead.sequence == 13)
            #expect(try Snapshots.check(path: ahead.path, store: store).problem?.contains("ahead of the log") == true)
        }
    }
}
