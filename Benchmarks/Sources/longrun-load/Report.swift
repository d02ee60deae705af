import BenchmarkSupport
import Foundation
import Synchronization

/// Percentiles of a set of latencies, in microseconds. Signed: W7 measures the gap between two
/// events seen by the client, which can come in either order.
struct LatencySummary: Codable, Sendable {
    var count: Int
    var p50Microseconds: Int64
    var p99Microseconds: Int64
    var maxMicroseconds: Int64
    var minMicroseconds: Int64

    init(_ samples: [Int64]) {
        let sorted = samples.sorted()
        count = sorted.count
        func at(_ p: Double) -> Int64 { sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))] }
        p50Microseconds = at(0.5)
        p99Microseconds = at(0.99)
        maxMicroseconds = sorted.last ?? 0
        minMicroseconds = sorted.first ?? 0
    }

    var text: String { "p50 \(Format.micros(p50Microseconds)), p99 \(Format.micros(p99Microseconds)), max \(Format.micros(maxMicroseconds))" }
}

/// What the server process cost during a measurement, and what this process (the load) cost: on
/// a small machine a client short of CPU limits the figure as much as the server.
struct ProcessCost: Codable, Sendable {
    var cpuSeconds: Double
    /// CPU seconds per second of measurement: 1.0 is one core busy.
    var cores: Double
    var peakRSSKiB: Int
    var loadToolCores: Double

    enum CodingKeys: String, CodingKey {
        case cpuSeconds, cores, loadToolCores
        case peakRSSKiB = "peak_rss_kib"
    }

    var text: String {
        "CPU \(Format.fixed(cpuSeconds, 2)) s (\(Format.fixed(cores * 100, 0))% of one core), peak RSS \(peakRSSKiB / 1024) MiB; "
            + "load tool \(Format.fixed(loadToolCores * 100, 0))% of one core"
    }
}

/// Measures a server's CPU, and this process's, from its creation to ``finish(seconds:)``.
struct CostMeter {
    let server: ServerProcess
    private let serverBefore: Double
    private let ownBefore: Double

    init(_ server: ServerProcess) {
        self.server = server
        serverBefore = server.cpuSeconds()
        ownBefore = processCPUSeconds("self")
    }

    func finish(seconds: Double) -> ProcessCost {
        let cpu = server.cpuSeconds() - serverBefore
        return ProcessCost(cpuSeconds: cpu, cores: cpu / seconds, peakRSSKiB: server.peakRSSKiB(),
                           loadToolCores: (processCPUSeconds("self") - ownBefore) / seconds)
    }
}

/// Everything one invocation measured, written as JSON after each workload so that a failure late
/// in `all` keeps the earlier figures.
struct RunResult: Codable, Sendable {
    var tool = "longrun-load"
    var startedAt = ISO8601DateFormatter().string(from: Date())
    var loadAverageAtStart = loadAverage() ?? ""
    var loadAverageAtEnd = ""
    var processors = ProcessInfo.processInfo.activeProcessorCount
    var secondsPerMeasurement: Int
    var w1: W1Result?
    var w2: W2Result?
    var w3: W3Result?
    var w5: W5Result?
    var w7: W7Result?
    var soak: SoakResult?

    init(secondsPerMeasurement: Int) {
        self.secondsPerMeasurement = secondsPerMeasurement
    }

    func write(to path: String) throws {
        var result = self
        result.loadAverageAtEnd = loadAverage() ?? ""
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        try encoder.encode(result).write(to: URL(fileURLWithPath: path), options: .atomic)
    }
}

enum Format {
    static func fixed(_ value: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", value) }

    /// A rate with thousands separators, e.g. 24,180.
    static func rate(_ value: Double) -> String {
        let formatter = NumberFormatter()
        formatter.numberStyle = .decimal
        formatter.maximumFractionDigits = 0
        return formatter.string(from: NSNumber(value: value.rounded())) ?? "\(Int(value))"
    }

    static func micros(_ value: Int64) -> String {
        abs(value) >= 10_000 ? "\(fixed(Double(value) / 1000, 1)) ms" : "\(value) µs"
    }

    static func percent(_ ratio: Double) -> String { "\(fixed(ratio * 100, 1))%" }

}

/// A thread-safe counter.
final class Counter: Sendable {
    private let value = Mutex(0)

    func next() -> Int { value.withLock { $0 += 1; return $0 } }
}

/// Prints a workload's heading and lines, flushed at once so that progress shows in a pipe.
func say(_ line: String) {
    print(line)
    fflush(nil)
}
