import BenchmarkSupport
import LMDB
import Logging
import LongrunDomain
import LongrunStore

/// W4: rebuilding the views from the log (drop them, fold every event again: what open does when
/// views are behind), against two baselines on the same log in the same run: a raw LMDB cursor scan
/// that reads every key and value byte, and a pass that decodes every event without folding it.
///
/// The three passes open the directory one after the other, never two at once (LMDB forbids
/// opening one environment twice in a process), which is why each runs in a function of its own.
struct ReplayWorkload {
    let events: Int
    let builder: StoreBuilder
    let logger: Logger
    let report: Report

    func run() throws {
        let data = try builder.store(operations: events / 4, shape: .fourEvents)
        _ = try rawScan(data) // Warm the page cache: every pass below reads the log from memory.
        let raw = try rawScan(data)
        let decode = try decodeOnly(data)
        let replay = try rebuildViews(data)
        let label = "\(raw.count) events"
        report.add("W4", "w4.raw_scan_events_per_s.\(events)", "raw LMDB cursor scan of the log (\(label))", Double(raw.count) / raw.elapsed.seconds, "events/s")
        report.add("W4", "w4.decode_events_per_s.\(events)", "decode every event, no fold (\(label))", Double(decode.count) / decode.elapsed.seconds, "events/s")
        report.add("W4", "w4.replay_events_per_s.\(events)", "rebuild views: drop + fold every event (\(label))", Double(replay.count) / replay.elapsed.seconds, "events/s", target: .atLeast(1_000_000))
        report.add("W4", "w4.replay_seconds.\(events)", "rebuild views, wall time", replay.elapsed.seconds, "s")
        report.add("W4", "w4.replay_over_raw_scan.\(events)", "replay rate / raw scan rate", raw.elapsed.seconds / replay.elapsed.seconds, "×")
        report.add("W4", "w4.decode_over_raw_scan.\(events)", "decode rate / raw scan rate", raw.elapsed.seconds / decode.elapsed.seconds, "×")
        report.add("W4", "w4.fold_share_of_replay.\(events)", "share of replay time beyond decoding (fold + writes)", 1 - decode.elapsed.seconds / replay.elapsed.seconds, "")
    }

    struct Pass {
        var count: Int
        var elapsed: Duration
    }

    /// Every key and value of the `log` database through the `LMDB` product's cursor, summing the
    /// bytes so that each one is read.
    @inline(never)
    func rawScan(_ data: String) throws -> Pass {
        var configuration = Environment.Configuration(path: data)
        configuration.readOnly = true
        let environment = try Environment(configuration: configuration)
        let log = try environment.openDatabase("log", create: false)
        let started = ContinuousClock.now
        let (count, checksum) = try environment.read { txn in
            try txn.withCursor(log) { cursor in
                var count = 0
                var checksum: UInt64 = 0
                var entry = try cursor.first()
                while let (key, value) = entry {
                    for byte in key { checksum &+= UInt64(byte) }
                    for byte in value { checksum &+= UInt64(byte) }
                    count += 1
                    entry = try cursor.next()
                }
                return (count, checksum)
            }
        }
        let elapsed = ContinuousClock.now - started
        precondition(checksum != 0 || count == 0)
        return Pass(count: count, elapsed: elapsed)
    }

    /// Every event decoded, in chunks of the replay's size, through the store's own log reader.
    @inline(never)
    func decodeOnly(_ data: String) throws -> Pass {
        var configuration = Store.Configuration()
        configuration.readOnly = true
        let store = try Store(directory: data, configuration: configuration, logger: logger)
        let chunk = Store.Configuration().replayChunk
        let started = ContinuousClock.now
        var count = 0
        var after: UInt64 = 0
        while true {
            let events = try store.read { try $0.events(after: after, limit: chunk) }
            guard let last = events.last else { break }
            count += events.count
            after = last.sequence
        }
        return Pass(count: count, elapsed: ContinuousClock.now - started)
    }

    /// ``Store/rebuildViews(chunk:)`` on the store itself: the views come back identical, so a
    /// cached store stays valid. The chain is not checked at open (that is another figure).
    @inline(never)
    func rebuildViews(_ data: String) throws -> Pass {
        var configuration = Store.Configuration()
        configuration.syncOnCommit = false
        configuration.verifyRecentLog = false
        let store = try Store(directory: data, configuration: configuration, logger: logger)
        let head = try store.read { try $0.logHead() }
        let started = ContinuousClock.now
        try store.rebuildViews(chunk: configuration.replayChunk)
        let elapsed = ContinuousClock.now - started
        try store.sync()
        return Pass(count: Int(head), elapsed: elapsed)
    }
}
