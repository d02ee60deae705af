import BenchmarkSupport
import Foundation
import GRPCCore
import LongrunProto
import Synchronization

/// Soak: C producers take operations through create → 3 progress → complete over unary RPCs
/// against a daemon on its default settings (snapshots, checkpoints and scrub as shipped), for
/// `--seconds`, optionally paced to `--soak-rate` transitions/s; every `--soak-interval` seconds
/// one line of what grows with time: throughput, latency, the daemon's anonymous and file-backed
/// RSS, open files, `data.mdb` and snapshot bytes, and bytes written (`wchar` of `/proc/PID/io`:
/// what the daemon handed to write calls, which the device's own counters match; `write_bytes`
/// over-counts by about 9× on Linux 6.18, where dirtying a page of a large folio counts more). The lines
/// go to a CSV for `Benchmarks/Scripts/plot-soak.py`, which draws the PNG in BENCHMARKS.md.
struct SoakResult: Codable, Sendable {
    struct Interval: Codable, Sendable {
        var elapsedSeconds: Double
        var transitions: Int
        var transitionsPerSecond: Double
        var latency: LatencySummary
        var anonymousRSSBytes: Int
        var fileRSSBytes: Int
        var openFiles: Int
        var dataFileBytes: Int
        var snapshotBytes: Int
        var bytesWritten: Int
    }

    var producers: Int
    var targetRate: Int?
    var seconds: Double
    var intervals: [Interval] = []
    var transitions = 0
    var latency: LatencySummary
    /// Snapshots the daemon wrote during the run: how many, and their bytes.
    var snapshotsWritten = 0
    var snapshotBytesWritten = 0
    /// The log's bytes for the transitions of the run (transitions × mean log entry).
    var logBytesWritten = 0
    /// Growth of `data.mdb` per transition over the run.
    var dataFileBytesPerTransition: Double = 0
    /// Anonymous RSS at the end over anonymous RSS at a third of the run, minus one.
    var anonymousRSSGrowthAfterWarmUp: Double = 0
    /// Requests slower than 100 ms.
    var stallsOver100Milliseconds = 0
}

struct Soak {
    let settings: Settings

    func run() async throws -> SoakResult {
        let producers = settings.producers.max() ?? 16
        let rate = settings.soakRate
        say("soak: \(producers) producers, create → 3 progress → complete (unary, durability full), \(settings.seconds) s\(rate.map { ", paced to \($0) transitions/s" } ?? ", as fast as answered"); a line every \(settings.soakInterval) s")
        let daemon = try Daemon.start(binary: settings.longrund)
        defer { daemon.stop() }
        let latencies = LatencyCollector()
        let clock = ContinuousClock()
        let start = clock.now
        let end = start + .seconds(settings.seconds)
        var result = SoakResult(producers: producers, targetRate: rate, seconds: 0, latency: LatencySummary([]))
        var all: [Int64] = []
        var snapshotsSeen: [String: Int] = [:]
        let csv = settings.soakCSV.map { path -> FileHandle? in
            _ = FileManager.default.createFile(atPath: path, contents: Data(Self.csvHeader.utf8))
            let handle = FileHandle(forWritingAtPath: path)
            _ = handle?.seekToEndOfFile()
            return handle
        } ?? nil
        defer { try? csv?.close() }

        try await Connection.with(socket: daemon.socket) { connection in
            let client = connection.producers
            try await withThrowingTaskGroup(of: Void.self) { group in
                for producer in 0..<producers {
                    group.addTask {
                        // Paced: each producer's transitions at even gaps, late ones sent at once.
                        let gap: Duration? = rate.map { .nanoseconds(Int64(1e9 * Double(producers) / Double(max($0, 1)))) }
                        var next = clock.now
                        var index = 0
                        func timed(_ call: () async throws -> Void) async throws {
                            if let gap {
                                next += gap
                                if next > clock.now { try await Task.sleep(until: next, clock: clock) }
                            }
                            let before = clock.now
                            try await call()
                            let micros = (clock.now - before).microseconds
                            latencies.add(micros)
                        }
                        while clock.now < end {
                            let id = "soak\(producer)-\(index)", name = "operations/soak\(producer)-\(index)"
                            try await timed { _ = try await client.createOperation(Requests.create(id: id)) }
                            for _ in 0..<3 { try await timed { _ = try await client.updateOperation(Requests.update(name: name)) } }
                            try await timed { _ = try await client.completeOperation(Requests.complete(name: name)) }
                            index += 1
                        }
                    }
                }
                var lastReport = start
                while clock.now < end {
                    try await Task.sleep(until: min(end, lastReport + .seconds(settings.soakInterval)), clock: clock)
                    let now = clock.now
                    let batch = latencies.drain()
                    all += batch
                    for (name, bytes) in Self.snapshots(daemon.dataDirectory) where snapshotsSeen[name] == nil { snapshotsSeen[name] = bytes }
                    let process = Self.processFigures(daemon.server.pid)
                    let interval = SoakResult.Interval(
                        elapsedSeconds: (now - start).seconds, transitions: all.count,
                        transitionsPerSecond: Double(batch.count) / (now - lastReport).seconds, latency: LatencySummary(batch),
                        anonymousRSSBytes: process.anonymousRSS, fileRSSBytes: process.fileRSS, openFiles: process.openFiles,
                        dataFileBytes: Self.fileSize(daemon.dataDirectory + "/data.mdb"),
                        snapshotBytes: Self.snapshots(daemon.dataDirectory).reduce(0) { $0 + $1.bytes }, bytesWritten: process.bytesWritten
                    )
                    result.intervals.append(interval)
                    say(Self.line(interval))
                    csv?.write(Data(Self.csvLine(interval).utf8))
                    lastReport = now
                }
                try await group.waitForAll()
            }
        }
        all += latencies.drain()
        result.seconds = (clock.now - start).seconds
        result.transitions = all.count
        result.latency = LatencySummary(all)
        result.stallsOver100Milliseconds = all.count(where: { $0 > 100_000 })
        result.snapshotsWritten = snapshotsSeen.count
        result.snapshotBytesWritten = snapshotsSeen.values.reduce(0, +)
        let entry = try DaemonStoreProbe(dataDirectory: daemon.dataDirectory).averageLogEntryBytes(last: 10_000)
        result.logBytesWritten = entry * result.transitions
        if let first = result.intervals.first, let last = result.intervals.last, last.transitions > first.transitions {
            result.dataFileBytesPerTransition = Double(last.dataFileBytes - first.dataFileBytes) / Double(last.transitions - first.transitions)
            let warm = result.intervals[result.intervals.count / 3]
            result.anonymousRSSGrowthAfterWarmUp = Double(last.anonymousRSSBytes) / Double(max(warm.anonymousRSSBytes, 1)) - 1
        }
        say("""
              \(result.transitions) transitions in \(Format.fixed(result.seconds, 0)) s (\(Format.rate(Double(result.transitions) / result.seconds))/s), latency \(result.latency.text), \
            \(result.stallsOver100Milliseconds) over 100 ms
              anonymous RSS after the first third: \(Format.percent(result.anonymousRSSGrowthAfterWarmUp)) growth; data.mdb \(Format.fixed(result.dataFileBytesPerTransition, 0)) B per transition
              snapshots: \(result.snapshotsWritten) written, \(result.snapshotBytesWritten >> 20) MiB = \(Format.percent(Double(result.snapshotBytesWritten) / Double(max(result.logBytesWritten, 1)))) of the \(result.logBytesWritten >> 20) MiB the log wrote (target ≤ 25%)
            """)
        return result
    }

    static let csvHeader = "elapsed_s,transitions,transitions_per_s,p50_us,p99_us,max_us,anon_rss_bytes,file_rss_bytes,open_files,data_mdb_bytes,snapshot_bytes,bytes_written\n"

    static func csvLine(_ i: SoakResult.Interval) -> String {
        [Format.fixed(i.elapsedSeconds, 1), "\(i.transitions)", Format.fixed(i.transitionsPerSecond, 0), "\(i.latency.p50Microseconds)",
         "\(i.latency.p99Microseconds)", "\(i.latency.maxMicroseconds)", "\(i.anonymousRSSBytes)", "\(i.fileRSSBytes)", "\(i.openFiles)",
         "\(i.dataFileBytes)", "\(i.snapshotBytes)", "\(i.bytesWritten)"].joined(separator: ",") + "\n"
    }

    static func line(_ i: SoakResult.Interval) -> String {
        "  \(Format.fixed(i.elapsedSeconds, 0)) s: \(Format.rate(i.transitionsPerSecond))/s, \(i.latency.text); RSS anon \(i.anonymousRSSBytes >> 20) MiB, "
            + "file \(i.fileRSSBytes >> 20) MiB; fds \(i.openFiles); data.mdb \(i.dataFileBytes >> 20) MiB, snapshots \(i.snapshotBytes >> 20) MiB; "
            + "written \(i.bytesWritten >> 20) MiB"
    }

    /// From `/proc/PID`: anonymous and file-backed resident bytes, open files, bytes passed to write
    /// calls (`wchar`; the answers on the socket are among them, a few hundred bytes per call).
    static func processFigures(_ pid: Int32) -> (anonymousRSS: Int, fileRSS: Int, openFiles: Int, bytesWritten: Int) {
        func field(_ text: String, _ name: String) -> Int {
            guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix(name) }) else { return 0 }
            return Int(line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first ?? "0") ?? 0
        }
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let io = (try? String(contentsOfFile: "/proc/\(pid)/io", encoding: .utf8)) ?? ""
        let files = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? 0
        return (field(status, "RssAnon:") * 1024, field(status, "RssFile:") * 1024, files, field(io, "wchar:"))
    }

    static func fileSize(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.intValue ?? 0
    }

    /// The snapshot files in the data directory, with their sizes.
    static func snapshots(_ dataDirectory: String) -> [(name: String, bytes: Int)] {
        let folder = dataDirectory + "/snapshots"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        return names.filter { $0.hasSuffix(".lrsnap") }.map { ($0, fileSize(folder + "/" + $0)) }
    }
}

/// Latencies from every producer, drained by the reporter each interval.
final class LatencyCollector: Sendable {
    private let samples = Mutex<[Int64]>([])

    func add(_ micros: Int64) { samples.withLock { $0.append(micros) } }

    func drain() -> [Int64] {
        samples.withLock { batch in
            defer { batch.removeAll(keepingCapacity: true) }
            return batch
        }
    }
}
