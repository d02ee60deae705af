@testable import LongrunServer
import Testing

/// What a peer can make happen on purpose is told at the first time and then at most once per
/// interval, with how many happened since: never silent, never a flood.
@Suite struct ReportEveryMinuteTests {
    @Test func theFirstIsReportedThenAtMostOncePerIntervalWithTheCountSince() async throws {
        let reports = ReportEveryMinute(interval: .seconds(1))
        #expect(reports.record() == 1)
        #expect(reports.record() == nil)
        #expect(reports.record() == nil)
        try await Task.sleep(for: .milliseconds(1_100))
        #expect(reports.record() == 3)
        #expect(reports.record() == nil)
    }
}
