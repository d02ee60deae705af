import Foundation

/// The one-, five- and fifteen-minute load averages as /proc/loadavg gives them (`0.52 0.61 0.70`),
/// to tell a figure measured on a quiet machine from one measured on a busy one; nil where there
/// is no /proc.
package func loadAverage() -> String? {
    guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) else { return nil }
    return text.split(separator: " ").prefix(3).joined(separator: " ")
}
