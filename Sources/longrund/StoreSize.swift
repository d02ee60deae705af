/// Size options' values (`--max-store-size`, `--journal-size`, `--max-buffered-bytes-per-peer`):
/// a number of bytes with an optional binary unit.
enum StoreSize {
    /// `64GiB`, `512MiB`, `1T`, `1048576` (bytes); units K/KiB, M/MiB, G/GiB, T/TiB are powers of
    /// 1024, case-insensitive, with or without a trailing `B`. Nil for anything else or overflow.
    static func parse(_ text: String) -> Int? {
        let digits = text.prefix(while: { $0.isASCII && $0.isNumber })
        guard let number = Int(digits) else { return nil }
        let shift: Int
        switch text.dropFirst(digits.count).filter({ $0 != " " }).lowercased() {
        case "", "b": shift = 0
        case "k", "kb", "kib": shift = 10
        case "m", "mb", "mib": shift = 20
        case "g", "gb", "gib": shift = 30
        case "t", "tb", "tib": shift = 40
        default: return nil
        }
        let (value, overflow) = number.multipliedReportingOverflow(by: 1 << shift)
        return overflow ? nil : value
    }
}
