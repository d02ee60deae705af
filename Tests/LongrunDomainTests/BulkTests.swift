import LongrunDomain
import Testing

@Suite("Bulk actions: scope and counting")
struct BulkActionTests {
    @Test func anEmptyFilterActsOnEverythingOnlyWhenAskedTo() throws {
        #expect(throws: DomainError.self) { try BulkAction.requireScope(filter: "", all: false) }
        #expect(throws: DomainError.self) { try BulkAction.requireScope(filter: "  \t", all: false) }
        try BulkAction.requireScope(filter: "", all: true)
        try BulkAction.requireScope(filter: "done = false", all: false)
    }

    @Test func eachActionIsTheCommandOfOneOperation() throws {
        let name = try OperationName(parsing: "operations/a")
        #expect(BulkAction.cancel(reason: "r").command(name) == .cancel(name: name, reason: "r"))
        #expect(BulkAction.delete.command(name) == .delete(name: name))
    }

    @Test func theReportCountsEveryOutcomeAndKeepsTheFirstRefusals() throws {
        var report = BulkReport()
        let denied = DomainError(.permissionDenied, reason: .permissionDenied, "not yours")
        for index in 0..<(BulkReport.maximumRefusalsReported + 5) {
            report.matched += 1
            report.record(try OperationName(parsing: "operations/r-\(index)"), .failure(denied))
        }
        report.record(try OperationName(parsing: "operations/c"), .success(true))
        report.record(try OperationName(parsing: "operations/u"), .success(false))
        #expect(report.refusedCount == BulkReport.maximumRefusalsReported + 5)
        #expect(report.refused.count == BulkReport.maximumRefusalsReported)
        #expect(report.refused.first?.name.id == "r-0")
        #expect(report.changed == 1 && report.unchanged == 1)
    }
}
