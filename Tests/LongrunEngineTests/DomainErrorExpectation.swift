import LongrunDomain
import Testing

/// Expects `body` to fail with a ``DomainError`` of `kind` (and `reason`, when given): the exact
/// error each rejection carries, as the engine tests check it.
func expectDomainError(_ kind: DomainError.Kind, _ reason: DomainError.Reason? = nil, sourceLocation: SourceLocation = #_sourceLocation,
                       _ body: () async throws -> Void) async {
    do {
        try await body()
        Issue.record("expected \(kind)", sourceLocation: sourceLocation)
    } catch let error as DomainError {
        #expect(error.kind == kind, "\(error)", sourceLocation: sourceLocation)
        if let reason { #expect(error.reason == reason, sourceLocation: sourceLocation) }
    } catch {
        Issue.record("expected a DomainError, got \(error)", sourceLocation: sourceLocation)
    }
}
