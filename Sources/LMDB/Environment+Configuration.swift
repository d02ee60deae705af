// Apart from Environment.swift, which imports CLMDB: lmdb.h includes sys/types.h, so there
// `mode_t` is declared by both CLMDB and Glibc and the public `fileMode` would need both imported
// publicly. Here it comes from the C library alone, and CLMDB stays out of LMDB's public surface.
#if canImport(Glibc)
public import Glibc
#elseif canImport(Musl)
public import Musl
#elseif canImport(Darwin)
public import Darwin
#endif

extension Environment {
    public struct Configuration: Sendable {
        public var path: String
        public var maximumDatabases: Int = 32
        /// The map's size at open (never below what the data file already uses). A writable
        /// environment starts at no more than ``maximumMapSize``.
        public var initialMapSize: Int = 64 << 20
        /// The largest the map, and so the data file, may grow: the bound on the store's size.
        public var maximumMapSize: Int = 1 << 40
        public var maximumReaders: Int = 1024
        /// `false` skips the fsync at commit (`MDB_NOSYNC`); durability then rests on ``sync(force:)``.
        public var syncOnCommit: Bool = true
        public var readOnly: Bool = false
        public var fileMode: mode_t = 0o600

        public init(path: String) {
            self.path = path
        }
    }
}
