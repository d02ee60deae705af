@testable import LongrunCLIKit
import Testing

@Suite("Duration options")
struct DurationOptionTests {
    @Test(arguments: [("30s", Duration.seconds(30)), ("1.5s", .milliseconds(1500)), ("500ms", .milliseconds(500)), ("2m", .seconds(120)), (" 1h ", .seconds(3600))])
    func durationOptions(_ text: String, _ expected: Duration) throws {
        #expect(try DurationOption.parse(text, option: "--timeout") == expected)
    }

    @Test(arguments: ["", "30", "thirty", "-5s", "5x"])
    func badDurationOptionsNameTheOption(_ text: String) {
        #expect(throws: DurationOption.ParseError(option: "--grace", text: text)) {
            try DurationOption.parse(text, option: "--grace")
        }
        #expect(DurationOption.ParseError(option: "--grace", text: text).description.hasPrefix("--grace: invalid duration '\(text)'"))
    }
}
