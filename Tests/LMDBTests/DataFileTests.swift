import LMDB
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The data file is checked before LMDB maps it, and the map never outgrows its maximum.
@Suite("LMDB data file checks and the map's maximum")
final class DataFileTests {
    let directory: String

    init() {
        var template = Array("/tmp/longrun-datafile-XXXXXX".utf8CString)
        directory = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
    }

    deinit {
        for name in ["data.mdb", "lock.mdb"] { unlink(directory + "/" + name) }
        rmdir(directory)
    }

    var dataFile: String { directory + "/data.mdb" }

    func configuration(initialMapSize: Int = 1 << 20, maximumMapSize: Int = 1 << 30) -> Environment.Configuration {
        var configuration = Environment.Configuration(path: directory)
        configuration.initialMapSize = initialMapSize
        configuration.maximumMapSize = maximumMapSize
        return configuration
    }

    /// An environment with `count` 1 KiB values, closed again.
    func makeEnvironment(values count: Int) throws {
        let env = try Environment(configuration: configuration())
        let db = try env.openDatabase("things")
        try env.write { txn in
            for index in 0..<count {
                try txn.put(db, key: withUnsafeBytes(of: UInt32(index).bigEndian) { Array($0) }, value: [UInt8](repeating: 1, count: 1024))
            }
        }
    }

    func fileBytes(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard count > 0 else { break }
            bytes += buffer[0..<count]
        }
        return bytes
    }

    func writeFile(_ path: String, _ bytes: [UInt8]) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        precondition(fd >= 0)
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }

    /// Opening must fail with `kind`, leave the data file as it was and create no lock file.
    func expectRefused(_ kind: LMDBError.Kind, mentioning text: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let before = fileBytes(dataFile)
        unlink(directory + "/lock.mdb")
        #expect(sourceLocation: sourceLocation) {
            _ = try Environment(configuration: configuration())
        } throws: { error in
            guard let error = error as? LMDBError else { return false }
            return error.kind == kind && (error.detail ?? "").contains(text)
        }
        #expect(fileBytes(dataFile) == before, "the data file changed", sourceLocation: sourceLocation)
        #expect(access(directory + "/lock.mdb", F_OK) != 0, "a lock file was created", sourceLocation: sourceLocation)
    }

    @Test func aCompleteDataFilePassesTheCheck() throws {
        try makeEnvironment(values: 200)
        let header = try DataFileHeader.inspect(dataFile)
        #expect(header.fileSize >= header.requiredSize)
        #expect(header.requiredSize > 200 * 1024)
        _ = try Environment(configuration: configuration())
    }

    @Test func aTruncatedDataFileIsRefusedInsteadOfCrashing() throws {
        try makeEnvironment(values: 200)
        // Without the check, LMDB maps the short file and faults (SIGBUS) on the first missing page.
        #expect(truncate(dataFile, 100_000) == 0)
        expectRefused(.corrupted, mentioning: "truncated")
    }

    @Test func aDataFileCutInsideItsMetaPagesIsRefused() throws {
        try makeEnvironment(values: 10)
        #expect(truncate(dataFile, 100) == 0)
        expectRefused(.corrupted, mentioning: "truncated")
    }

    @Test func anEmptyDataFileIsRefusedRatherThanInitialised() throws {
        writeFile(dataFile, [])
        expectRefused(.corrupted, mentioning: "empty")
        #expect(fileBytes(dataFile) == [])
    }

    @Test func aFileThatIsNotLMDBIsRefused() throws {
        var generator = SystemRandomNumberGenerator()
        writeFile(dataFile, (0..<50_000).map { _ in UInt8.random(in: 0...255, using: &generator) })
        expectRefused(.invalid, mentioning: "not an LMDB data file")
    }

    @Test func theInitialMapNeverExceedsTheMaximum() throws {
        // A 64 MiB initial map with a 2 MiB maximum: the maximum wins.
        let env = try Environment(configuration: configuration(initialMapSize: 64 << 20, maximumMapSize: 2 << 20))
        #expect(env.info.mapSize <= 2 << 20)
        let db = try env.openDatabase("things")
        #expect {
            try env.write { txn in
                for index in 0..<1024 {
                    try txn.put(db, key: withUnsafeBytes(of: UInt32(index).bigEndian) { Array($0) }, value: [UInt8](repeating: 7, count: 4096))
                }
            }
        } throws: { error in
            guard let error = error as? LMDBError, error.kind == .mapFull else { return false }
            return (error.detail ?? "").contains("maximum size of 2 MiB")
        }
    }

    @Test func afterTheMapIsFullSmallWritesAndReadsStillWork() throws {
        let env = try Environment(configuration: configuration(initialMapSize: 1 << 20, maximumMapSize: 2 << 20))
        let db = try env.openDatabase("things")
        try env.write { txn in try txn.put(db, key: [0], value: [42]) }
        #expect(throws: LMDBError.self) {
            try env.write { txn in try txn.put(db, key: [1], value: [UInt8](repeating: 7, count: 4 << 20)) }
        }
        try env.write { txn in try txn.put(db, key: [2], value: [43]) }
        #expect(try env.read { txn in try txn.get(db, key: [0]).map(Array.init) } == [42])
        #expect(try env.read { txn in try txn.get(db, key: [1]).map(Array.init) } == nil)
        #expect(try env.read { txn in try txn.get(db, key: [2]).map(Array.init) } == [43])
    }

    @Test func byteCountsReadAsBinaryUnits() {
        #expect(ByteCount.text(512) == "512 bytes")
        #expect(ByteCount.text(2 << 20) == "2 MiB")
        #expect(ByteCount.text(64 << 30) == "64 GiB")
        #expect(ByteCount.text(1536 << 10) == "1.5 MiB")
    }
}
