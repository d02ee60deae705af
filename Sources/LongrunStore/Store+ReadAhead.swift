import Dispatch
import LMDB
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

extension Store {
    /// Reads the log's entries from `first` through `last` into the page cache ahead of a walk over
    /// them in order, on threads of their own; nil when the range is too short to be worth them.
    /// The walker reports its progress (``LogReadAhead/walked(through:)``) and ends it
    /// (``LogReadAhead/finish()``) before it writes.
    ///
    /// Why: LMDB's pages come into a cold page cache one page fault at a time, so a walk over the
    /// log waits for the disk once per page in turn. A start after a machine stop checks about a
    /// second of log under load, and from a cold cache that check took 74–81 ms, 10–12 ms of it
    /// hashing; several threads keep several reads in flight, and with the map advised for random
    /// reads (``Environment/advise(_:)``) it took 14–35 ms (BENCHMARKS.md, "A cold start reads the
    /// log ahead").
    func readLogAhead(from first: UInt64, through last: UInt64) -> LogReadAhead? {
        guard last >= first, last - first + 1 >= LogReadAhead.minimumEvents else { return nil }
        let ahead = LogReadAhead(first: first, last: last)
        for index in 0..<LogReadAhead.threads {
            ahead.group.enter()
            do {
                try OwnThread.start { [self] in
                    ahead.run(thread: index, on: self)
                    ahead.group.leave()
                }.detach()
            } catch {
                // Reading ahead only saves time: the walk reads what the threads did not.
                ahead.group.leave()
                break
            }
        }
        return ahead
    }
}

/// Reads the log ahead of a walk (``Store/readLogAhead(from:through:)``) once the walk finds its
/// pages on the disk: when the walking thread's major page faults (`getrusage`) grew over a block
/// of the walk. A walk over a warm page cache (a start after the process alone died, the engine's
/// checks while it runs) starts no thread.
struct ReadAheadWhenCold {
    private let store: Store
    private let last: UInt64
    private let always: Bool
    private var faults: Int
    private var ahead: LogReadAhead?

    /// `always`: from the walk's first block on, whatever the faults (for tests, whose cache is warm).
    init(store: Store, through last: UInt64, always: Bool = false) {
        self.store = store
        self.last = last
        self.always = always
        faults = Self.majorFaults()
    }

    /// The walker read through `sequence`.
    mutating func walked(through sequence: UInt64) {
        guard sequence % LogReadAhead.blockEvents == 0 else { return }
        if let ahead { return ahead.walked(through: sequence) }
        let now = Self.majorFaults()
        if always || now > faults, sequence < last {
            ahead = store.readLogAhead(from: sequence + 1, through: last)
            if ahead != nil {
                store.logger.debug("the log's pages are not in the page cache: reading them ahead", metadata: [
                    "from": "\(sequence + 1)", "through": "\(last)", "threads": "\(LogReadAhead.threads)",
                ])
            }
        }
        faults = now
    }

    /// Stops the threads, if any, and waits for them.
    func finish() { ahead?.finish() }

    /// Page faults of this thread that read from the disk.
    private static func majorFaults() -> Int {
        var usage = rusage()
        #if canImport(Glibc)
        // RUSAGE_THREAD, a GNU extension the Glibc module leaves out.
        getrusage(__rusage_who_t(1), &usage)
        #elseif canImport(Musl)
        getrusage(RUSAGE_THREAD, &usage)
        #else
        // The process's faults: with threads of its own reading, the walk's alone are not told apart.
        getrusage(RUSAGE_SELF, &usage)
        #endif
        return usage.ru_majflt
    }
}

/// The threads of one ``Store/readLogAhead(from:through:)``: thread `k` of `n` reads blocks
/// `k`, `k + n`, `k + 2n`, … of ``blockEvents`` events, so that together they move ahead of the
/// walker, at most ``window`` events ahead (what they read is not evicted before it is walked, on a
/// log larger than memory); blocks the walker has passed are skipped.
final class LogReadAhead: Sendable {
    /// When a walk reads the log ahead (``Store/verifyLog(from:through:readingAhead:progress:)``).
    enum Policy {
        case never
        /// Once the walk finds the log's pages on the disk (``ReadAheadWhenCold``).
        case whenCold
        /// From the walk's first block on.
        case always
    }

    /// Reads in flight, as many as threads: measured from a cold cache on this project's 2-core
    /// machine, see BENCHMARKS.md.
    static let threads = 8
    static let blockEvents: UInt64 = 256
    static let window: UInt64 = 65_536
    /// Shorter ranges are walked as they are (a check of 1,000 events takes about a millisecond warm).
    static let minimumEvents: UInt64 = 1_024

    let first: UInt64
    let last: UInt64
    fileprivate let group = DispatchGroup()
    /// The next entry the walker reads.
    private let position: Atomic<UInt64>
    private let stopped = Atomic<Bool>(false)
    /// What the threads read, summed, so that the reads are not optimized away.
    private let sink = Atomic<UInt64>(0)

    fileprivate init(first: UInt64, last: UInt64) {
        self.first = first
        self.last = last
        position = Atomic(first)
    }

    /// The walker has read through `sequence`.
    func walked(through sequence: UInt64) {
        position.store(sequence &+ 1, ordering: .relaxed)
    }

    /// Stops the threads and waits for them (each ends its read transaction).
    func finish() {
        stopped.store(true, ordering: .relaxed)
        group.wait()
    }

    fileprivate func run(thread index: Int, on store: Store) {
        var block = UInt64(index)
        var sum: UInt64 = 0
        defer { sink.add(sum, ordering: .relaxed) }
        while !stopped.load(ordering: .relaxed) {
            let (start, overflow) = first.addingReportingOverflow(block * Self.blockEvents)
            guard !overflow, start <= last else { return }
            let end = min(start + Self.blockEvents - 1, last)
            block += UInt64(Self.threads)
            if position.load(ordering: .relaxed) > end { continue }
            while start > position.load(ordering: .relaxed) &+ Self.window {
                guard !stopped.load(ordering: .relaxed) else { return }
                usleep(1_000)
            }
            // A failed read is the walker's to report: it reads the same entries.
            sum &+= (try? store.read { reader in
                try reader.txn.withCursor(reader.schema.log) { cursor in
                    var read: UInt64 = 0
                    var entry = try cursor.seek(atLeast: Keys.sequence(start))
                    while let (key, value) = entry, let sequence = Keys.decodeSequence(key), sequence <= end {
                        read &+= Self.touch(value)
                        entry = try cursor.next()
                    }
                    return read
                }
            }) ?? 0
        }
    }

    /// Reads a byte of each page `value` spans (a large entry lies on overflow pages).
    private static func touch(_ value: UnsafeRawBufferPointer) -> UInt64 {
        guard !value.isEmpty else { return 0 }
        var sum: UInt64 = 0
        var offset = 0
        while offset < value.count {
            sum &+= UInt64(value[offset])
            offset += 4_096
        }
        return sum &+ UInt64(value[value.count - 1])
    }
}
