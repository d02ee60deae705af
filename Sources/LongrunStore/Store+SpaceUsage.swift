import LMDB

/// How much of its data file the store uses, for the daemon's metrics (`longrun_store_*_bytes`).
extension Store {
    public struct SpaceUsage: Sendable, Equatable {
        /// The size LMDB maps now: the data file may grow to this before the map grows again
        /// (up to `Configuration.maximumMapSize`).
        public var mapSizeBytes: Int
        /// Pages in use up to the highest one ever written: what the data file holds.
        public var usedBytes: Int
    }

    /// Read from LMDB's environment info: no transaction, no I/O.
    public var spaceUsage: SpaceUsage {
        let info = environment.info
        return SpaceUsage(mapSizeBytes: info.mapSize, usedBytes: info.usedBytes)
    }
}
