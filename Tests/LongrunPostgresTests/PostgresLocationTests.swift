import LongrunPostgres
import Testing

@Suite("PostgreSQL: store URLs")
struct PostgresLocationTests {
    @Test func tcpURLsNameHostPortUserAndDatabase() throws {
        let location = try PostgresLocation(parsing: "postgres://longrun:s%40cret@db.example:6543/ops?sslmode=require")
        #expect(location.endpoint == .tcp(host: "db.example", port: 6543))
        #expect(location.user == "longrun")
        #expect(location.password == "s@cret")
        #expect(location.database == "ops")
        #expect(location.tls == .require)
        #expect(location.description == "postgres://longrun@db.example:6543/ops", "the password never shows")
    }

    @Test func aSocketDirectoryIsTheUnixSocketForm() throws {
        let location = try PostgresLocation(parsing: "postgresql://app@/ops?host=/run/postgresql&port=5433&schema=team_a")
        #expect(location.endpoint == .unixSocket(path: "/run/postgresql/.s.PGSQL.5433"))
        #expect(location.schema == "team_a")
        #expect(try PostgresLocation(parsing: "postgres:///ops", environment: ["USER": "me"]).endpoint == .unixSocket(path: "/var/run/postgresql/.s.PGSQL.5432"))
    }

    @Test func thePasswordMayComeFromTheEnvironment() throws {
        let location = try PostgresLocation(parsing: "postgres://app@localhost/ops", environment: ["PGPASSWORD": "pw"])
        #expect(location.password == "pw")
        #expect(location.endpoint == .tcp(host: "localhost", port: 5432))
    }

    @Test(arguments: [
        "postgres://app@host:99999/ops",
        "postgres://app@host/ops?sslmode=maybe",
        "postgres://app@host/ops?schema=a;drop",
        "postgres://app@host/ops?colour=blue",
        "mysql://app@host/ops",
    ])
    func malformedURLsAreRefusedWithTheReason(_ text: String) {
        #expect(throws: PostgresLocationError.self) { try PostgresLocation(parsing: text) }
    }
}
