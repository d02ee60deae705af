/// Durations as people type them on command lines: `30s`, `1.5s`, `500ms`, `2m`, `1h`, `7d`, `250us`.
/// Shared by `longrund` and `longrun` so that both accept exactly the same forms.
public enum DurationText {
    public static func parse(_ text: String) -> Duration? {
        let units: [(suffix: String, nanoseconds: Double)] = [
            ("ms", 1e6), ("us", 1e3), ("µs", 1e3), ("ns", 1), ("d", 86_400e9), ("h", 3600e9), ("m", 60e9), ("s", 1e9),
        ]
        for unit in units where text.hasSuffix(unit.suffix) {
            let number = text.dropLast(unit.suffix.count)
            guard !number.isEmpty, number.allSatisfy({ $0.isNumber || $0 == "." }),
                  let value = Double(number), value.isFinite, value >= 0
            else { return nil }
            let total = value * unit.nanoseconds
            guard total < 9.2e18 else { return nil }
            return .nanoseconds(Int64(total.rounded()))
        }
        return nil
    }

    /// The shortest of the forms above that `parse` reads back to the same value (whole units).
    public static func format(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        let nanoseconds = seconds * 1_000_000_000 + attoseconds / 1_000_000_000
        for (suffix, size) in [("d", Int64(86_400_000_000_000)), ("h", Int64(3600_000_000_000)), ("m", 60_000_000_000), ("s", 1_000_000_000), ("ms", 1_000_000), ("us", 1000)]
            where nanoseconds != 0 && nanoseconds % size == 0 {
            return "\(nanoseconds / size)\(suffix)"
        }
        return "\(nanoseconds)ns"
    }
}
