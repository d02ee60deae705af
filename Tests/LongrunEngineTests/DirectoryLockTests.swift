import LongrunEngine
import LongrunTestSupport
import Testing

@Suite("Engine: data directory ownership")
struct DirectoryLockTests {
    @Test func onlyOneDaemonOwnsADataDirectory() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let first = try LongrunEngine.lockDirectory(directory.child("data"))
        #expect {
            try LongrunEngine.lockDirectory(directory.child("data"))
        } throws: { "\($0)".contains("another longrund owns") }
        withExtendedLifetime(first) {}
        // The lock file does not make the directory look foreign to the store.
        let engine = try Fixtures.openEngine(directory.child("data"))
        engine.close()
    }
}
