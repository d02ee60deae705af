import BenchmarkSupport
import Foundation

/// The figures of one run: printed as they are measured, then as a table, and written as JSON.
final class Report {
    enum Target {
        case atMost(Double)
        case atLeast(Double)

        func isMet(by value: Double) -> Bool {
            switch self {
            case .atMost(let limit): value <= limit
            case .atLeast(let limit): value >= limit
            }
        }

        var text: String {
            switch self {
            case .atMost(let limit): "≤ \(Report.format(limit))"
            case .atLeast(let limit): "≥ \(Report.format(limit))"
            }
        }
    }

    struct Figure: Encodable {
        var workload: String
        var key: String
        var label: String
        var value: Double
        var unit: String
        var target: String?
        var met: Bool?
    }

    private struct Document: Encodable {
        var tool = "store-figures"
        var started: String
        var host: [String: String]
        var options: [String: String]
        var notes: [String]
        var figures: [Figure]
    }

    private(set) var figures: [Figure] = []
    private var notes: [String] = []
    private let started = Date()
    private let loadAtStart = Report.loadAverage()

    /// Records one figure; `key` is the stable name in the JSON (`w3.page_p50_us.1000000`).
    func add(_ workload: String, _ key: String, _ label: String, _ value: Double, _ unit: String, target: Target? = nil) {
        let figure = Figure(workload: workload, key: key, label: label, value: value, unit: unit,
                            target: target?.text, met: target.map { $0.isMet(by: value) })
        figures.append(figure)
        print("  \(label): \(Self.format(value)) \(unit)\(figure.target.map { " (target \($0): \(figure.met! ? "met" : "NOT met"))" } ?? "")")
    }

    /// A remark worth keeping with the figures (how a store was built, a skipped check).
    func note(_ text: String) {
        notes.append(text)
        print("  note: \(text)")
    }

    func printTable() {
        let rows = figures.map { [$0.workload, $0.label, Self.format($0.value) + " " + $0.unit, $0.target ?? "", $0.met.map { $0 ? "met" : "NOT met" } ?? ""] }
        let header = ["workload", "figure", "value", "target", ""]
        let widths = (0..<header.count).map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
        func line(_ cells: [String]) -> String {
            zip(cells, widths).map { $0.0.padding(toLength: $0.1, withPad: " ", startingAt: 0) }.joined(separator: " | ")
        }
        print("")
        print(line(header))
        print(widths.map { String(repeating: "-", count: $0) }.joined(separator: "-|-"))
        for row in rows { print(line(row)) }
        print("load average at start: \(loadAtStart), at end: \(Self.loadAverage())")
    }

    func writeJSON(to path: String, options: [String: String]) throws {
        let host = [
            "processors": "\(ProcessInfo.processInfo.activeProcessorCount)",
            "memory_bytes": "\(ProcessInfo.processInfo.physicalMemory)",
            "load_average_start": loadAtStart,
            "load_average_end": Self.loadAverage(),
        ]
        let document = Document(started: ISO8601DateFormatter().string(from: started), host: host, options: options, notes: notes, figures: figures)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try encoder.encode(document).write(to: URL(fileURLWithPath: path))
    }

    /// The load averages, or `unknown` where there is no /proc.
    static func loadAverage() -> String { BenchmarkSupport.loadAverage() ?? "unknown" }

    static func format(_ value: Double) -> String {
        if value == value.rounded() && abs(value) < 1e15 { return Int(value).formatted() }
        if abs(value) >= 100 { return String(format: "%.0f", value) }
        if abs(value) >= 10 { return String(format: "%.1f", value) }
        return String(format: "%.3g", value)
    }
}

/// Latencies of one workload, in nanoseconds.
struct Latencies {
    private(set) var samples: [Int64] = []

    mutating func reserve(_ count: Int) { samples.reserveCapacity(count) }
    mutating func append(_ duration: Duration) { samples.append(duration.nanoseconds) }
    mutating func append(contentsOf other: Latencies) { samples.append(contentsOf: other.samples) }

    /// The `q` quantile (0...1) in microseconds, nearest rank.
    func microseconds(atQuantile q: Double) -> Double {
        guard !samples.isEmpty else { return .nan }
        let sorted = samples.sorted()
        let rank = min(sorted.count - 1, max(0, Int((Double(sorted.count) * q).rounded(.up)) - 1))
        return Double(sorted[rank]) / 1000
    }

    var meanMicroseconds: Double {
        samples.isEmpty ? .nan : Double(samples.reduce(0, +)) / Double(samples.count) / 1000
    }
}

