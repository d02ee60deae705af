/// A point in wall-clock time: nanoseconds since the Unix epoch, UTC.
///
/// Events carry the time the engine's injected ``WallClock`` gave when they were decided, so
/// tests and replay never read the real clock.
public struct Timestamp: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var nanosecondsSinceEpoch: Int64

    public init(nanosecondsSinceEpoch: Int64) {
        self.nanosecondsSinceEpoch = nanosecondsSinceEpoch
    }

    /// Saturates at the representable range (years 1677 to 2262) instead of trapping.
    public init(seconds: Int64, nanos: Int32 = 0) {
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        let (total, overflow2) = scaled.addingReportingOverflow(Int64(nanos))
        self.nanosecondsSinceEpoch = overflow || overflow2 ? (seconds < 0 ? .min : .max) : total
    }

    /// Whole seconds since the epoch (floor), as `google.protobuf.Timestamp.seconds`.
    public var seconds: Int64 {
        let (quotient, remainder) = nanosecondsSinceEpoch.quotientAndRemainder(dividingBy: 1_000_000_000)
        return remainder < 0 ? quotient - 1 : quotient
    }

    /// The non-negative nanosecond part, as `google.protobuf.Timestamp.nanos`.
    public var nanos: Int32 {
        let remainder = nanosecondsSinceEpoch % 1_000_000_000
        return Int32(remainder < 0 ? remainder + 1_000_000_000 : remainder)
    }

    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool {
        lhs.nanosecondsSinceEpoch < rhs.nanosecondsSinceEpoch
    }

    public static func + (lhs: Timestamp, rhs: Duration) -> Timestamp {
        Timestamp(nanosecondsSinceEpoch: lhs.nanosecondsSinceEpoch &+ rhs.nanoseconds)
    }

    public static func - (lhs: Timestamp, rhs: Timestamp) -> Duration {
        .nanoseconds(lhs.nanosecondsSinceEpoch &- rhs.nanosecondsSinceEpoch)
    }

    /// RFC 3339 in UTC with nanosecond precision when needed, e.g. `2026-11-21T06:07:59.5Z`.
    public var description: String { RFC3339.format(self) }
}

extension Duration {
    /// The duration in whole nanoseconds, saturating at the bounds of `Int64`.
    public var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        let (sum, overflow2) = scaled.addingReportingOverflow(attoseconds / 1_000_000_000)
        if overflow2 { return seconds < 0 ? .min : .max }
        return sum
    }
}

/// The source of event times. Injected so that tests control time and the domain never reads it.
public protocol WallClock: Sendable {
    func now() -> Timestamp
}

extension Timestamp {
    public static func - (lhs: Timestamp, rhs: Duration) -> Timestamp {
        Timestamp(nanosecondsSinceEpoch: lhs.nanosecondsSinceEpoch &- rhs.nanoseconds)
    }
}
