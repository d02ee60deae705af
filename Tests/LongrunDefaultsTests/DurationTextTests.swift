import LongrunDefaults
import Testing

@Suite("Duration text")
struct DurationTextTests {
    @Test(arguments: [
        ("30s", Duration.seconds(30)), ("1.5s", .milliseconds(1500)), ("500ms", .milliseconds(500)),
        ("2m", .seconds(120)), ("1h", .seconds(3600)), ("7d", .seconds(604_800)), ("250us", .microseconds(250)), ("0s", .zero),
    ])
    func parses(_ text: String, _ expected: Duration) {
        #expect(DurationText.parse(text) == expected)
    }

    @Test(arguments: ["", "s", "10", "-1s", "1.2.3s", "abc", "1w", "1e3s", "nans"])
    func rejects(_ text: String) {
        #expect(DurationText.parse(text) == nil)
    }

    @Test(arguments: [Duration.seconds(30), .milliseconds(1500), .seconds(7200), .seconds(172_800), .microseconds(3)])
    func formatsWhatItParses(_ duration: Duration) {
        #expect(DurationText.parse(DurationText.format(duration)) == duration)
    }
}
