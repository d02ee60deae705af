@testable import LongrunCLIKit
import Testing

@Suite("RFC 3339 output")
struct RFC3339Tests {
    @Test(arguments: [
        (Int64(0), Int32(0), "1970-01-01T00:00:00Z"),
        (951_782_400, 0, "2000-02-29T00:00:00Z"),
        (1_767_225_599, 999_999_999, "2025-12-31T23:59:59.999Z"),
        (-1, 0, "1969-12-31T23:59:59Z"),
        (253_402_300_799, 0, "9999-12-31T23:59:59Z"),
    ])
    func rfc3339(_ seconds: Int64, _ nanos: Int32, _ expected: String) {
        #expect(RFC3339.format(seconds: seconds, nanos: nanos) == expected)
    }
}
