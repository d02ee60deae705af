public import LongrunDomain

/// Cancelling or deleting every operation a filter matches (``BulkAction``).
extension LongrunEngine {
    /// Operations acted on at once: one page of the list, all submitted together so that they
    /// share commits.
    public static let bulkPage: Int32 = 500

    /// Applies `action` to every operation of `name` (a collection or a wildcard, as List takes it)
    /// that matches `filter` and that `access` may read, each as its own command: so the caller's
    /// permission is checked per operation, and each change is its own event. Pages through the
    /// matches in creation order (an operation deleted on the way is simply not listed again).
    /// `validateOnly`: only counts the matches.
    public func bulk(_ action: BulkAction, name: String, filter: String, all: Bool = false, validateOnly: Bool = false,
                     actor: Actor, access: Access = .unrestricted) async throws -> BulkReport {
        try BulkAction.requireScope(filter: filter, all: all)
        var report = BulkReport()
        var token = ""
        repeat {
            let page = try await list(ListRequest(name: name, filter: filter, pageSize: Self.bulkPage, pageToken: token), access: access)
            report.matched += page.operations.count
            token = page.nextPageToken
            guard !validateOnly else { continue }
            let writer = self.writer
            let outcomes = try await withThrowingTaskGroup(of: (Int, Result<Bool, DomainError>).self) { group in
                for (index, state) in page.operations.enumerated() {
                    group.addTask {
                        do {
                            let written = try await writer.submitCounting(action.command(state.name), actor: actor, access: access)
                            return (index, .success(written.appended > 0))
                        } catch let error as DomainError {
                            return (index, .failure(error))
                        }
                    }
                }
                return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
            }
            for (index, state) in page.operations.enumerated() {
                if let outcome = outcomes[index] { report.record(state.name, outcome) }
            }
        } while !token.isEmpty
        return report
    }
}
