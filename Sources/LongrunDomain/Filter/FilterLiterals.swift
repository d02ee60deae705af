// Conversion of literal values to the types of the fields they are compared with.

extension Filter {
    enum TimestampProblem: Error {
        case invalid, tooManyFractionDigits, outOfRange
    }

    /// The earliest timestamp a filter accepts: `Timestamp.seconds` (used by `RFC3339.format`)
    /// overflows within a second of `Int64.min`. Printed, it is 1677-09-21T00:12:44.145224191Z.
    static let minimumNanoseconds = Int64.min + 999_999_999

    /// Parses an RFC 3339 timestamp into nanoseconds since the epoch without ever trapping:
    /// more than 9 fractional digits and years whose nanoseconds overflow `Int64`
    /// (before 1677-09-21T00:12:44.145224191Z or after 2262-04-11T23:47:16.854775807Z) are reported instead of reaching `Timestamp`'s arithmetic.
    static func parseTimestamp(_ text: String) -> Result<Int64, TimestampProblem> {
        var bytes = Array(text.utf8)
        // The layout is fixed-width up to the seconds: YYYY-MM-DDTHH:MM:SS (19 bytes).
        guard bytes.count >= 20, bytes[0..<4].allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return .failure(.invalid) }
        if bytes[19] == UInt8(ascii: ".") {
            let digits = bytes[20...].prefix { $0 >= 0x30 && $0 <= 0x39 }.count
            if digits > 9 { return .failure(.tooManyFractionDigits) }
        }
        // The Gregorian calendar repeats every 400 years (146,097 days): parse the date moved into
        // 1800...2199, where nanoseconds cannot overflow, and move the seconds back with checked arithmetic.
        let year = bytes[0..<4].reduce(0) { $0 * 10 + Int($1 - 0x30) }
        let shiftedYear = 1800 + ((year - 1800) % 400 + 400) % 400
        let cycles = Int64((year - shiftedYear) / 400)
        var digits = shiftedYear
        for index in stride(from: 3, through: 0, by: -1) {
            bytes[index] = UInt8(0x30 + digits % 10)
            digits /= 10
        }
        guard let shifted = RFC3339.parse(String(decoding: bytes, as: UTF8.self)) else { return .failure(.invalid) }
        let (cycleSeconds, overflow1) = cycles.multipliedReportingOverflow(by: 146_097 * 86_400)
        let (seconds, overflow2) = shifted.seconds.addingReportingOverflow(cycleSeconds)
        // Borrow a second for negative times so that Int64.min itself stays reachable.
        let borrow: Int64 = seconds < 0 && shifted.nanos > 0 ? 1 : 0
        let (scaled, overflow3) = (seconds + borrow).multipliedReportingOverflow(by: 1_000_000_000)
        let (nanoseconds, overflow4) = scaled.addingReportingOverflow(Int64(shifted.nanos) - borrow * 1_000_000_000)
        guard !(overflow1 || overflow2 || overflow3 || overflow4), nanoseconds >= minimumNanoseconds else {
            return .failure(.outOfRange)
        }
        return .success(nanoseconds)
    }

    /// An `error.code` literal: a decimal integer (optionally negative) or a `google.rpc.Code` name.
    static func parseCode(_ text: String) -> Int32? {
        if let code = StatusCode(name: text.uppercased()) { return code.rawValue }
        var utf8 = Substring(text).utf8[...]
        let negative = utf8.first == UInt8(ascii: "-")
        if negative { utf8 = utf8.dropFirst() }
        guard !utf8.isEmpty else { return nil }
        var value: Int64 = 0
        for byte in utf8 {
            guard byte >= 0x30, byte <= 0x39 else { return nil }
            value = value * 10 + Int64(byte - 0x30)
            if value > Int64(Int32.max) + 1 { return nil }
        }
        if negative { value = -value }
        return Int32(exactly: value)
    }
}
