import CLMDB

/// A named database inside an ``Environment``: a handle, valid for the environment's lifetime.
public struct Database: Sendable, Hashable {
    public let name: String
    let dbi: MDB_dbi
}
