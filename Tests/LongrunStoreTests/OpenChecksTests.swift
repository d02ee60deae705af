import LMDB
import LongrunDomain
import LongrunStore
import LongrunTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A data directory that is not a usable Longrun store is refused with a message that says what
/// is wrong and what to do, and its data file is left byte for byte as it was.
@Suite("Store: refusing directories that are not ours")
struct OpenChecksTests {
    let logger = Fixtures.quietLogger

    func bytes(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var result: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard count > 0 else { break }
            result += buffer[0..<count]
        }
        return result
    }

    /// A store with a few events, closed again.
    func makeStore(_ path: String) throws {
        let store = try Store(directory: path, logger: logger)
        for index in 0..<50 {
            let name = try OperationName(collection: .root, id: "op-\(index)")
            try store.write { writer in
                try writer.append([.init(actor: Fixtures.producer, kind: .created(.init(metadata: Fixtures.payload("acme.Meta", String(repeating: "x", count: 500)))))],
                                  name: name, time: Timestamp(seconds: 1_800_000_000))
            }
        }
    }

    /// Opening `path` fails with a `StoreError` of `kind` whose message contains every one of
    /// `phrases`; `file` (the data file, or the non-directory) has the same bytes afterwards.
    func expectRefused(_ path: String, _ kind: StoreError.Kind, file: String, _ phrases: [String],
                       sourceLocation: SourceLocation = #_sourceLocation) {
        let before = bytes(file)
        #expect(before != nil, sourceLocation: sourceLocation)
        do {
            _ = try Store(directory: path, logger: logger)
            Issue.record("opened \(path)", sourceLocation: sourceLocation)
        } catch let error as StoreError {
            #expect(error.kind == kind, "\(error)", sourceLocation: sourceLocation)
            for phrase in phrases { #expect(error.message.contains(phrase), "\(error.message)", sourceLocation: sourceLocation) }
        } catch {
            Issue.record("expected a StoreError, got \(error)", sourceLocation: sourceLocation)
        }
        #expect(bytes(file) == before, "\(file) changed", sourceLocation: sourceLocation)
    }

    @Test func aRegularFileWhereTheDirectoryShouldBe() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.child("data")
        let fd = open(path, O_WRONLY | O_CREAT, 0o600)
        _ = write(fd, "not a directory", 15)
        close(fd)
        expectRefused(path, .foreignDirectory, file: path, ["is not a directory", "a regular file", "Nothing was changed".lowercased()])
        #expect(Throws.message { try Store.checkDirectory(path) }?.contains("not a directory") == true)
    }

    @Test func aTruncatedDataFileIsDataLossNotACrash() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        try makeStore(directory.path)
        let dataFile = directory.child("data.mdb")
        var info = stat()
        stat(dataFile, &info)
        #expect(truncate(dataFile, off_t(info.st_size / 2)) == 0)
        expectRefused(directory.path, .dataLoss, file: dataFile, ["truncated", "Nothing was changed", "backup"])
    }

    @Test func anEmptyDataFileIsNotTakenForANewStore() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let dataFile = directory.child("data.mdb")
        close(open(dataFile, O_WRONLY | O_CREAT, 0o600))
        expectRefused(directory.path, .dataLoss, file: dataFile, ["empty", "Nothing was changed"])
        #expect(bytes(dataFile) == [])
    }

    @Test func aDataFileThatIsNotLMDB() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let dataFile = directory.child("data.mdb")
        let fd = open(dataFile, O_WRONLY | O_CREAT, 0o600)
        var generator = SystemRandomNumberGenerator()
        let noise = (0..<40_000).map { _ in UInt8.random(in: 0...255, using: &generator) }
        _ = noise.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        expectRefused(directory.path, .foreignDirectory, file: dataFile, ["is not a Longrun store", "not an LMDB data file", "Nothing was changed"])
        #expect(access(directory.child("lock.mdb"), F_OK) != 0, "LMDB's lock file was created")
    }

    @Test func anUnrelatedLMDBEnvironment() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        do {
            let env = try Environment(configuration: .init(path: directory.path))
            let db = try env.openDatabase("invoices")
            try env.write { txn in try txn.put(db, key: Array("2026-001".utf8), value: Array("paid".utf8)) }
        }
        expectRefused(directory.path, .foreignDirectory, file: directory.child("data.mdb"), ["not a Longrun store", "invoices", "nothing was changed"])
    }

    @Test func theSchemaDeclaresExactlyTheDatabasesItCreates() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        do { _ = try Store(directory: directory.path, logger: logger) }
        let env = try Environment(configuration: .init(path: directory.path))
        #expect(try env.databaseNames().sorted() == Schema.databaseNames.sorted())
    }

    /// A store of this format written by a build with fewer databases: a read-only open cannot add
    /// them, and says which one it lacks (the kind and the name, not text to parse).
    @Test func aReadOnlyOpenNamesTheDatabaseAStoreLacks() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        do {
            let env = try Environment(configuration: .init(path: directory.path))
            let meta = try env.openDatabase("meta")
            _ = try env.openDatabase("log")
            try env.write { txn in
                try txn.put(meta, key: Array("format_version".utf8), value: withUnsafeBytes(of: Schema.formatVersion.bigEndian) { Array($0) })
            }
        }
        var configuration = Store.Configuration()
        configuration.readOnly = true
        #expect {
            try Store(directory: directory.path, configuration: configuration, logger: logger)
        } throws: { error in
            guard let error = error as? StoreError else { return false }
            return error.kind == .missingDatabase && error.database == "operations_by_creation" && error.message.contains("'operations_by_creation'")
                && error.message.contains("Start longrund on it once")
        }
        let env = try Environment(configuration: .init(path: directory.path))
        #expect(try env.databaseNames().sorted() == ["log", "meta"])
    }

    /// A store of a later format may lay out its databases differently: it must be refused before
    /// the schema opens (and would create) this build's databases in it.
    @Test func aStoreOfAFutureFormatVersion() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        do {
            let env = try Environment(configuration: .init(path: directory.path))
            let meta = try env.openDatabase("meta")
            let events = try env.openDatabase("events_v2")
            try env.write { txn in
                try txn.put(meta, key: Array("format_version".utf8), value: withUnsafeBytes(of: UInt32(3).bigEndian) { Array($0) })
                try txn.put(events, key: [0, 0, 0, 0, 0, 0, 0, 1], value: [1, 2, 3])
            }
        }
        expectRefused(directory.path, .unsupportedFormat, file: directory.child("data.mdb"),
                      ["store format 3", "reads format 2", "Nothing was changed", "newer Longrun"])
        let env = try Environment(configuration: .init(path: directory.path))
        #expect(try env.databaseNames() == ["events_v2", "meta"])
    }

    @Test func aDirectoryOfOtherFilesIsNotMadeAStore() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let other = directory.child("notes.txt")
        close(open(other, O_WRONLY | O_CREAT, 0o600))
        expectRefused(directory.path, .foreignDirectory, file: other, ["holds no Longrun store", "notes.txt"])
        #expect(access(directory.child("data.mdb"), F_OK) != 0)
    }
}

/// The message of what `body` throws, or nil if it returns.
enum Throws {
    static func message(_ body: () throws -> Void) -> String? {
        do {
            try body()
            return nil
        } catch {
            return "\(error)"
        }
    }
}
