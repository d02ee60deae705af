@testable import LongrunCLIKit
import LongrunProto
import LongrunProtoTestSupport
import SwiftProtobuf
import Synchronization
import Testing

@Suite("Progress reporter")
struct ProgressReporterTests {
    let time = Google_Protobuf_Timestamp(seconds: 1_767_225_600, nanos: 0) // 2026-01-01T00:00:00Z

    @Test func theReporterPrintsOnlyChanges() throws {
        let lines = Mutex<[String]>([])
        let reporter = ProgressReporter(write: { line in lines.withLock { $0.append(line) } }, now: { time })
        let first = try structAny(["percent": .init(numberValue: 10)])
        let second = try structAny(["percent": .init(numberValue: 20), "message": .init(stringValue: "half")])
        reporter.observe(operation("operations/x"))                   // nothing yet: no metadata
        reporter.observe(operation("operations/x", metadata: first))  // 10%
        reporter.observe(operation("operations/x", metadata: first))  // unchanged
        reporter.observe(operation("operations/x", metadata: second)) // 20% half
        reporter.observe(operation("operations/x", metadata: second)) // unchanged
        reporter.observe(operation("operations/x", done: true, metadata: first)) // done: the result is printed instead
        #expect(lines.withLock { $0 } == ["operations/x  10%", "operations/x  20%  half"])
    }
}
