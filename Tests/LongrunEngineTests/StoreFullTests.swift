import LongrunDomain
import LongrunEngine
import LongrunStore
import LongrunTestSupport
import Testing

/// A store at its maximum size refuses writes with a resource-exhausted error naming the limit,
/// keeps serving reads, loses nothing acknowledged, and takes writes again with a larger maximum.
@Suite("Engine: a full store")
struct StoreFullTests {
    static let smallLimit = 1 << 20
    /// 16 KiB of metadata per operation: a 1 MiB store fills within 64 creates.
    static let bulk = Fixtures.payload("acme.Bulk", String(repeating: "x", count: 16 << 10))

    func open(_ directory: String, limit: Int) throws -> LongrunEngine {
        try Fixtures.openEngine(directory) { configuration in
            configuration.maximumMapSize = limit
            configuration.snapshotEveryEvents = nil
            configuration.snapshotInterval = nil
        }
    }

    /// Creates one operation after another until the store refuses one (the store-full error) or
    /// `atMost` were acknowledged (appended to `acknowledged`); whether one was refused.
    func createUntilRefused(_ engine: LongrunEngine, _ prefix: String, atMost: Int, acknowledged: inout [OperationState]) async throws -> Bool {
        for index in 0..<atMost {
            do {
                acknowledged.append(try await engine.create(CreateRequest(id: "\(prefix)-\(index)", metadata: Self.bulk), actor: Fixtures.producer))
            } catch let error as StoreError {
                #expect(error.kind == .resourceExhausted, "\(error)")
                return true
            }
        }
        return false
    }

    @Test func writesFailAtTheLimitReadsWorkAndALargerLimitResumesThem() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var acknowledged: [OperationState] = []
        var failure: (any Error)?
        do {
            let engine = try open(directory.path, limit: Self.smallLimit)
            defer { engine.close() }
            #expect(!engine.writesRefused)
            for index in 0..<1000 {
                do {
                    acknowledged.append(try await engine.create(CreateRequest(id: "bulk-\(index)", metadata: Self.bulk), actor: Fixtures.producer))
                } catch {
                    failure = error
                    break
                }
            }
            let error = try #require(failure as? StoreError, "filling a 1 MiB store: \(String(describing: failure))")
            #expect(error.kind == .resourceExhausted)
            #expect(error.message.contains("1 MiB"), "\(error.message)")
            #expect(error.message.contains("--max-store-size"), "\(error.message)")
            #expect(error.message.contains("reads keep working"), "\(error.message)")
            #expect(acknowledged.count > 10, "the store filled after \(acknowledged.count) creates")
            #expect(engine.writesRefused)

            // The writer survived the failed batch: it answers the next ones (a batch of several
            // commands together) with the same error. A journal checkpoint that completes meanwhile
            // (the failed commit takes one; a scheduled one may finish after it on a loaded machine)
            // lets LMDB reuse the pages freed before it, so one of them may fit: then it is
            // acknowledged like any other, and listed below.
            var refusals = 0
            try await withThrowingTaskGroup(of: Result<OperationState, StoreError>.self) { group in
                for index in 0..<8 {
                    group.addTask {
                        do {
                            return .success(try await engine.create(CreateRequest(id: "more-\(index)", metadata: Self.bulk), actor: Fixtures.producer))
                        } catch let error as StoreError {
                            return .failure(error)
                        }
                    }
                }
                for try await result in group {
                    switch result {
                    case .success(let state):
                        acknowledged.append(state)
                    case .failure(let error):
                        #expect(error.kind == .resourceExhausted && error.message.contains("--max-store-size"), "\(error)")
                        refusals += 1
                    }
                }
            }
            #expect(refusals >= 6, "the full store took \(8 - refusals) of 8 more creates")
            // The last write refused (whichever of the batch committed last). On a loaded machine a
            // checkpoint that completes late releases every page the commits since the one before
            // freed (each commit rewrites about ten pages of the trees), and several creates fit;
            // each also needs two 16 KiB values of new pages, which nothing frees, so a 1 MiB
            // store that takes 64 more in a row (it filled from empty in fewer) refuses nothing.
            let refusedLast = try await createUntilRefused(engine, "last", atMost: 64, acknowledged: &acknowledged)
            #expect(refusedLast, "the full store took 64 more creates in a row")
            acknowledged.sort { $0.createSequence < $1.createSequence }

            // Reads keep working and see everything acknowledged, and nothing of the failed writes.
            // Reads do not clear the signal; only a successful commit does.
            #expect(engine.writesRefused)
            for state in acknowledged { #expect(try await engine.get(state.name) == state) }
            let listed = try await engine.list(ListRequest(name: "operations", pageSize: 1000))
            #expect(listed.operations.map(\.name) == acknowledged.map(\.name))
            #expect(try await engine.appliedSequence() == UInt64(acknowledged.count))
        }

        // Reopened with the same limit: intact, and full again within a few writes (pages the
        // first run freed but could not reuse while its readers held them may fit one or two more).
        do {
            let engine = try open(directory.path, limit: Self.smallLimit)
            defer { engine.close() }
            for state in acknowledged { #expect(try await engine.get(state.name) == state) }
            let refused = try await createUntilRefused(engine, "after-reopen", atMost: 8, acknowledged: &acknowledged)
            #expect(refused, "the store took 8 more creates at the same limit")
        }

        // Reopened with a larger limit: writes resume, and what was acknowledged is still there.
        do {
            let engine = try open(directory.path, limit: 64 << 20)
            defer { engine.close() }
            let created = try await engine.create(CreateRequest(id: "after-raise", metadata: Self.bulk), actor: Fixtures.producer)
            #expect(!engine.writesRefused)
            _ = try await engine.complete(created.name, outcome: .response(Fixtures.payload("acme.Done")), actor: Fixtures.producer)
            for state in acknowledged { #expect(try await engine.get(state.name) == state) }
            #expect(try await engine.get(created.name).done)
            #expect(try await engine.appliedSequence() == UInt64(acknowledged.count + 2))
        }
    }
}
