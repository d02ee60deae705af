import LongrunDefaults
import Testing

@Suite("Default paths")
struct DefaultPathsTests {
    @Test func rootUsesTheSystemDirectories() {
        let paths = DefaultPaths.resolve(uid: 0) { _ in nil }
        #expect(paths == DefaultPaths(dataDirectory: "/var/lib/longrun", socketPath: "/run/longrun/longrund.sock"))
    }

    @Test func usersFollowXDG() {
        let environment = ["HOME": "/home/ann", "XDG_STATE_HOME": "/home/ann/state", "XDG_RUNTIME_DIR": "/run/user/1000"]
        let paths = DefaultPaths.resolve(uid: 1000) { environment[$0] }
        #expect(paths == DefaultPaths(dataDirectory: "/home/ann/state/longrun", socketPath: "/run/user/1000/longrun/longrund.sock"))
    }

    @Test func usersWithoutXDGFallBackToHomeAndTmp() {
        let paths = DefaultPaths.resolve(uid: 1000) { $0 == "HOME" ? "/home/ann" : ($0 == "XDG_RUNTIME_DIR" ? "" : nil) }
        #expect(paths == DefaultPaths(dataDirectory: "/home/ann/.local/state/longrun", socketPath: "/tmp/longrun-1000/longrund.sock"))
    }

    @Test func environmentOverridesWin() {
        let paths = DefaultPaths.resolve(uid: 0) { ["LONGRUN_SOCKET": "/tmp/s.sock", "LONGRUN_DATA_DIR": "/srv/lr"][$0] }
        #expect(paths == DefaultPaths(dataDirectory: "/srv/lr", socketPath: "/tmp/s.sock"))
    }
}

@Suite("Client socket")
struct ClientSocketTests {
    let user = ["HOME": "/home/ann", "XDG_RUNTIME_DIR": "/run/user/1000"]
    let own = "/run/user/1000/longrun/longrund.sock"

    @Test func usersFallBackToTheSystemSocketWhenTheirOwnIsMissing() {
        let path = DefaultPaths.clientSocketPath(uid: 1000, environment: { user[$0] }, fileExists: { $0 == DefaultPaths.systemSocketPath })
        #expect(path == "/run/longrun/longrund.sock")
    }

    @Test func theirOwnSocketWinsWhenItExists() {
        #expect(DefaultPaths.clientSocketPath(uid: 1000, environment: { user[$0] }, fileExists: { _ in true }) == own)
        #expect(DefaultPaths.clientSocketPath(uid: 1000, environment: { user[$0] }, fileExists: { $0 == own }) == own)
    }

    @Test func withNeitherTheirOwnIsNamed() {
        // The error then names the socket the user's own daemon would listen on.
        #expect(DefaultPaths.clientSocketPath(uid: 1000, environment: { user[$0] }, fileExists: { _ in false }) == own)
    }

    @Test func theEnvironmentWinsEvenIfMissing() {
        var environment = user
        environment["LONGRUN_SOCKET"] = "/srv/lr.sock"
        #expect(DefaultPaths.clientSocketPath(uid: 1000, environment: { environment[$0] }, fileExists: { $0 == DefaultPaths.systemSocketPath }) == "/srv/lr.sock")
    }

    @Test func rootUsesTheSystemSocket() {
        #expect(DefaultPaths.clientSocketPath(uid: 0, environment: { _ in nil }, fileExists: { _ in false }) == "/run/longrun/longrund.sock")
    }
}
