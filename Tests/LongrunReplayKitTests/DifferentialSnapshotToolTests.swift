import Foundation
import LongrunDomain
import LongrunReplayKit
import LongrunStore
import LongrunTestSupport
import Testing

/// The tool's snapshot commands with differential snapshots: listed and checked with their base,
/// restored from, and refused (or skipped) when their base is gone.
@Suite("longrun-replay: differential snapshots")
struct DifferentialSnapshotToolTests {
    let logger = Fixtures.quietLogger

    @Test func aDifferentialIsListedCheckedWithItsBaseAndRestoredFrom() async throws {
        try await withTemporaryDirectory { directory in
            let data = directory.child("data")
            try await Scenario.populate(data)
            let base = try Snapshots.take(store: try Scenario.open(data), keep: 3)
            #expect(base.info.baseSequence == nil, "the first is full")
            try await Scenario.appendMore(data, count: 2, prefix: "more")
            let store = try Scenario.open(data)
            let taken = try Snapshots.take(store: store, keep: 3, kind: .differential)
            #expect(taken.written && taken.info.baseSequence == 9 && taken.header.sequence == 13)
            #expect(taken.header.records == 2, "only the two new operations")
            #expect(taken.human.contains("differential on the snapshot at event 9"))
            #expect(try object(taken.json)["base"] as? Int == 9)
            try await Scenario.appendMore(data, count: 1, prefix: "last")
            let store2 = try Scenario.open(data)
            let listed = try Snapshots.list(store: store2)
            #expect(listed.map(\.sequence) == [13, 9])
            #expect(listed.allSatisfy { $0.isGood && $0.anchored == true })
            #expect(Snapshots.verifyLines(listed)[0] == "ok \(taken.info.path) (event 13, 2 records, differential on the snapshot at event 9, chain hash matches the log)")
            #expect(try object(listed[0].json)["base"] as? Int == 9)

            // Restored from, explicitly and as the newest usable one: the same views as the source up to it.
            let source = try Rebuild.run(source: store2, into: directory.child("plain"), snapshot: .none, until: 13, logger: logger)
            let restored = try Rebuild.run(source: store2, into: directory.child("restored"), snapshot: .file(taken.info.path), until: 13, logger: logger)
            #expect(restored.snapshotSequence == 13 && restored.viewsDigest == source.viewsDigest)
            let rebuilt = try Rebuild.run(source: store2, into: directory.child("rebuilt"), logger: logger)
            #expect(rebuilt.snapshotPath == taken.info.path)
            #expect(rebuilt.viewsDigest == (try store2.viewsDigest()))
            let state = try await StateAt.run(store: store2, query: StateQuery(at: .sequence(14), name: Scenario.alpha), scratchParent: directory.path, logger: logger)
            guard case .operation(let alpha) = state.content else { Issue.record("\(state.content)"); return }
            #expect(alpha.done)

            // As the daemon does: 3 of the 6 records changed since the base (the differential's two and
            // one since), not fewer than half: a full one.
            let automatic = try Snapshots.take(store: store2, keep: 3)
            #expect(automatic.written && automatic.info.baseSequence == nil)
            #expect(automatic.removed.isEmpty, "keep 3: the differential and its base stay")
        }
    }

    @Test func aDifferentialWithoutItsBaseIsUnusableAndSkipped() async throws {
        try await withTemporaryDirectory { directory in
            let data = directory.child("data")
            try await Scenario.populate(data)
            let base = try Snapshots.take(store: try Scenario.open(data), keep: 3)
            try await Scenario.appendMore(data, count: 2, prefix: "more")
            let taken = try Snapshots.take(store: try Scenario.open(data), keep: 3, kind: .differential)
            try FileManager.default.removeItem(atPath: base.info.path)

            let store = try Scenario.open(data)
            let status = try Snapshots.check(path: taken.info.path, store: store)
            #expect(status.isIntact && !status.isGood && status.status == "UNUSABLE")
            #expect(status.problem?.contains("its base \(base.info.path) is missing") == true)
            #expect(throws: StoreError.self) {
                try Rebuild.run(source: store, into: directory.child("restored"), snapshot: .file(taken.info.path), logger: logger)
            }
            let rebuilt = try Rebuild.run(source: store, into: directory.child("rebuilt"), logger: logger)
            #expect(rebuilt.snapshotPath == nil, "the log instead")
            #expect(rebuilt.viewsDigest == (try store.viewsDigest()))
            let verification = try Verification.run(store: store, scratchParent: directory.path, logger: logger)
            #expect(verification.report.problems.map(\.kind) == [.snapshotCorrupt])
        }
    }
}
