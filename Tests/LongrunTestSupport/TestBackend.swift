import Logging
public import LongrunEngine
public import LongrunPostgres
import LongrunStore

#if canImport(Glibc)
import Glibc
#endif

/// The storage backends behaviour tests run on. LMDB always; PostgreSQL when a test server is
/// given in `LONGRUN_TEST_POSTGRES` (`eval "$(Tools/postgres start)"` sets it; `Tools/test` does it
/// by itself). With `LONGRUN_REQUIRE_POSTGRES=1` (CI) a missing server fails the tests instead of
/// leaving PostgreSQL out.
public enum TestBackend: String, CaseIterable, Sendable, CustomStringConvertible {
    case lmdb, postgres

    public var description: String { rawValue }

    /// The backends this run covers.
    public static var available: [TestBackend] {
        PostgresTestServer.url != nil || PostgresTestServer.required ? [.lmdb, .postgres] : [.lmdb]
    }
}

/// The PostgreSQL server the tests use, from the environment.
public enum PostgresTestServer {
    /// `LONGRUN_TEST_POSTGRES`: a URL of a database the tests may create schemas in.
    public static var url: String? { environment("LONGRUN_TEST_POSTGRES").flatMap { $0.isEmpty ? nil : $0 } }
    /// `LONGRUN_REQUIRE_POSTGRES=1`: PostgreSQL tests must run (CI).
    public static var required: Bool { environment("LONGRUN_REQUIRE_POSTGRES") == "1" }

    /// Whether PostgreSQL-only tests run: a server is given, or one is required (and its absence
    /// then fails them with the reason).
    public static var enabled: Bool { url != nil || required }

    /// The location of a fresh schema of its own in the test database, so tests run in parallel
    /// and leave nothing behind once ``drop(_:)`` ran.
    public static func freshLocation() throws -> PostgresLocation {
        guard let url else {
            throw TestSetupError("""
                PostgreSQL tests are required (LONGRUN_REQUIRE_POSTGRES=1) but LONGRUN_TEST_POSTGRES is not set: \
                start a server with `eval "$(Tools/postgres start)"`, or run Tools/test, which does
                """)
        }
        var location = try PostgresLocation(parsing: url, environment: PostgresLocation.processEnvironment)
        location.schema = "t_" + String(UInt64.random(in: 1...UInt64.max), radix: 36)
        return location
    }

    /// Drops the schema of `location` with everything in it.
    public static func drop(_ location: PostgresLocation) async throws {
        let store = try await PostgresStore.open(location, logger: Fixtures.quietLogger)
        defer { store.close() }
        try await store.dropEverything()
    }

    static func environment(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }
    }
}

/// Where one test keeps its store: a temporary directory (LMDB) or a fresh schema (PostgreSQL).
/// Opening it again opens the same store, as a restarted daemon would.
public final class TestStorePlace: Sendable {
    public let backend: TestBackend
    public let directory: TemporaryDirectory?
    public let postgres: PostgresLocation?

    public init(_ backend: TestBackend) throws {
        self.backend = backend
        switch backend {
        case .lmdb:
            directory = TemporaryDirectory()
            postgres = nil
        case .postgres:
            directory = nil
            postgres = try PostgresTestServer.freshLocation()
        }
    }

    /// An engine on this place's store (another one on the same PostgreSQL schema stands for a
    /// second host).
    public func openEngine(clock: ManualClock = ManualClock(), configure: (inout LongrunEngine.Configuration) -> Void = { _ in },
                           options: PostgresStore.Options = .init()) async throws -> LongrunEngine {
        switch backend {
        case .lmdb:
            return try Fixtures.openEngine(directory!.path, clock: clock, configure: configure)
        case .postgres:
            var configuration = LongrunEngine.Configuration()
            configure(&configuration)
            let store = try await PostgresStore.open(postgres!, options: options, logger: Fixtures.quietLogger)
            return try await LongrunEngine(store: store, configuration: configuration, clock: clock, logger: Fixtures.quietLogger)
        }
    }

    /// Removes the store.
    public func remove() async {
        directory?.remove()
        if let postgres { try? await PostgresTestServer.drop(postgres) }
    }
}

public struct TestSetupError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Runs `body` with a fresh place for a store on `backend`, removed afterwards.
public func withStorePlace<R>(_ backend: TestBackend, _ body: (TestStorePlace) async throws -> R) async throws -> R {
    let place = try TestStorePlace(backend)
    do {
        let result = try await body(place)
        await place.remove()
        return result
    } catch {
        await place.remove()
        throw error
    }
}
