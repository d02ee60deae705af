import LMDB
import Logging
import LongrunDomain

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Folding the log into the views: the tail at open, or everything again.
extension Store {
    /// Folds the log entries after the applied sequence into the views, in chunks of `chunk` events
    /// (one write transaction each).
    func replayTail(chunk: Int, progress: StoreProgressHandler? = nil) throws {
        let (applied, head) = try read { reader in (try reader.appliedSequence(), try reader.logHead()) }
        guard applied != head else { return }
        guard applied < head else {
            throw StoreError(.dataLoss,
                             "the views have folded up to sequence \(applied) but the log ends at \(head): events are missing from the log. Run `longrun-replay verify --data-dir \(directory)`")
        }
        var next = applied + 1
        if applied == 0, let snapshot = try usableSnapshot(upTo: head) {
            // Views lost entirely: start from the newest snapshot and replay only the tail.
            try write { writer in
                for database in schema.views { try writer.txn.clear(database) }
                try SnapshotFile.load(snapshot, into: writer, logStart: try writer.reader.logTail() ?? 1,
                                      repairedLater: try writer.reader.namesRepairedFirst(after: snapshot.sequence))
            }
            next = snapshot.sequence + 1
            logger.notice("views were empty; loaded a snapshot", metadata: [
                "snapshot": "\(snapshot.path)", "sequence": "\(snapshot.sequence)", "base": "\(snapshot.basePath ?? "none (a full snapshot)")",
            ])
        }
        logger.notice("views are behind the log; replaying", metadata: ["applied": "\(next - 1)", "head": "\(head)"])
        // Two stages on two threads: one reads and decodes a chunk of the log (a read transaction
        // of its own: replay writes only the views) while the writer folds and writes the chunk
        // before it. Each chunk is one write transaction, as before.
        let (start, size) = (next, UInt64(chunk))
        let began = ContinuousClock.now
        var lastReport = began
        try pipeline(produce: { emit in
            var next = start
            while next <= head {
                let last = min(head, next + size - 1)
                guard emit(try self.read { try $0.decodeLogged(from: next, through: last) }) else { return }
                next = last + 1
            }
        }, consume: { decoded in
            try write { writer in try writer.foldDecoded(decoded) }
            let (done, total) = (decoded.through - start + 1, head - start + 1)
            progress?(StoreProgress(phase: "replaying the log", done: done, total: total))
            // A long replay (lost views, a large tail) says how far it is every few seconds.
            let now = ContinuousClock.now
            if now - lastReport >= .seconds(5) {
                lastReport = now
                logger.notice("replaying the log", metadata: [
                    "done": "\(done)", "total": "\(total)",
                    "events_per_second": "\(Int(Double(done) * 1e9 / Double(max((now - began).nanoseconds, 1))))",
                ])
            }
        })
        logger.notice("replay finished", metadata: [
            "head": "\(head)", "events": "\(head + 1 - start)", "took": "\(ContinuousClock.now - began)",
        ])
    }

    /// Drops every view and folds the whole log again (from the newest usable snapshot, as every
    /// replay does). Used when views are suspected wrong. A compacted log cannot be folded from its
    /// start: rebuild from a snapshot with `longrun-replay rebuild` instead; but when only the fold
    /// rules changed (`fromASnapshotOfOtherRules`), the snapshot at the compaction point is the
    /// one base there is and serves.
    public func rebuildViews(chunk: Int = 50_000, fromASnapshotOfOtherRules: Bool = false) throws {
        let (tail, head) = try read { reader in (try reader.logTail(), try reader.logHead()) }
        if tail == nil, head > 0 {
            // Compacted to nothing by an older build: the views are all there is after the snapshot.
            throw StoreError(.dataLoss, "the log was compacted through its last event (\(head)): rebuild from a snapshot with longrun-replay rebuild")
        }
        if let tail, tail > 1, try !fromASnapshotOfOtherRules || usableSnapshot(upTo: .max) == nil {
            throw StoreError(.dataLoss, "the log starts at \(tail) (older events were compacted): rebuild from a snapshot with longrun-replay rebuild")
        }
        try write { writer in
            for database in schema.views { try writer.txn.clear(database) }
            try writer.setAppliedSequence(0)
        }
        try replayTail(chunk: chunk)
    }
}
