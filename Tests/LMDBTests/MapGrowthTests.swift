@testable import LMDB
import Dispatch
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("LMDB environment: growing the map while other threads look at it")
struct MapGrowthTests {
    /// The journal's checkpoints read the environment's info and a pinned state's free pages on a
    /// thread of their own while the writer's thread may grow the map, which unmaps it and maps it
    /// again (`mdb_env_set_mapsize`): whatever reads the map meanwhile must wait for the growth.
    /// Found as a segmentation fault in `mdb_env_info` under load (2026-12-07). Each round opens a
    /// new environment with a 1 MiB map and grows it once with a 2 MiB commit while two threads
    /// read its info, pin its state and list the pinned state's free pages.
    @Test func theInfoAndAPinnedStatesFreePagesAreReadWhileTheMapGrows() throws {
        let value = [UInt8](repeating: 7, count: 2048)
        for round in 0..<150 {
            let directory = TemporaryDirectory()
            defer { directory.remove() }
            var configuration = Environment.Configuration(path: directory.path)
            configuration.initialMapSize = 1 << 20
            configuration.syncOnCommit = false
            let env = try Environment(configuration: configuration)
            let db = try env.openDatabase("things")
            try env.write { txn in try txn.put(db, key: [0], value: [1]) }
            let stop = Atomic<Bool>(false)
            let readers = DispatchGroup()
            let failures = Mutex<[String]>([])
            for _ in 0..<2 {
                DispatchQueue.global().async(group: readers) {
                    while !stop.load(ordering: .relaxed) {
                        do {
                            guard env.info.pageSize > 0 else { throw LMDBError(kind: .invalid, code: EINVAL, operation: "info") }
                            let pin = try env.pinSnapshot()
                            _ = try pin.freePages()
                            pin.release()
                        } catch {
                            failures.withLock { $0.append("\(error)") }
                        }
                    }
                }
            }
            var runs = 0
            try env.write { txn in
                runs += 1
                for index in 1...1024 {
                    try txn.put(db, key: withUnsafeBytes(of: UInt32(index).bigEndian) { Array($0) }, value: value)
                }
            }
            stop.store(true, ordering: .relaxed)
            readers.wait()
            #expect(runs > 1, "round \(round): the map did not grow")
            #expect(failures.withLock { $0 }.isEmpty)
            #expect(try env.read { txn in try txn.count(db) } == 1025)
        }
    }
}

/// A directory under /tmp, removed by ``remove()``.
private struct TemporaryDirectory {
    let path: String

    init() {
        var template = Array("/tmp/longrun-lmdb-grow-XXXXXX".utf8CString)
        path = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
    }

    func remove() {
        for file in ["data.mdb", "lock.mdb"] { unlink(path + "/" + file) }
        rmdir(path)
    }
}
