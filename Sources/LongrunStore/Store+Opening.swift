import LMDB
import Logging
import LongrunDomain

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Opening a data directory: what it must be, and the format it holds.
extension Store {
    /// Checks, without creating or changing anything, that `directory` can hold a Longrun store:
    /// absent (it will be created), or a directory that is empty or holds a data file that is a
    /// complete LMDB file. Throws a ``StoreError`` that says what is wrong and what to do. (Whether
    /// an LMDB environment is ours, and its format version, are checked when it is opened.)
    public static func checkDirectory(_ directory: String) throws {
        var info = stat()
        guard stat(directory, &info) == 0 else { return }
        guard info.st_mode & S_IFMT == S_IFDIR else {
            throw StoreError(.foreignDirectory,
                             "\(directory) is not a directory (it is \(fileKind(info.st_mode))); nothing was changed. Point the data directory at a directory, or at a path that does not exist yet")
        }
        let dataFile = directory + "/data.mdb"
        if access(dataFile, F_OK) == 0 {
            do {
                _ = try DataFileHeader.inspect(dataFile)
            } catch {
                switch error.kind {
                case .corrupted:
                    throw StoreError(.dataLoss, """
                        \(dataFile) is damaged: \(error.detail ?? "\(error)"). Nothing was changed. \
                        Restore the data directory from a backup; if the store never held data, remove the directory to start afresh
                        """, underlying: error)
                case .invalid, .versionMismatch:
                    throw StoreError(.foreignDirectory, """
                        \(directory) is not a Longrun store: its data.mdb is \(error.detail ?? "\(error)"). Nothing was changed. \
                        Point the data directory at a Longrun store, or at a new or empty directory
                        """, underlying: error)
                default:
                    throw StoreError.wrap(error)
                }
            }
            return
        }
        // A directory with files but no data.mdb is someone else's: never create a store among them.
        guard let handle = opendir(directory) else { return }
        defer { closedir(handle) }
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            if ![".", "..", "lock.mdb", "snapshots", Store.daemonLockFile].contains(name) {
                throw StoreError(.foreignDirectory,
                                 "\(directory) is not empty and holds no Longrun store (found '\(name)'); nothing was changed. Choose a new or empty directory")
            }
        }
    }

    static func fileKind(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFREG: "a regular file"
        case S_IFLNK: "a symbolic link"
        case S_IFSOCK: "a socket"
        case S_IFIFO: "a FIFO"
        case S_IFCHR, S_IFBLK: "a device"
        default: "not a directory"
        }
    }

    static func prepareDirectory(_ directory: String, readOnly: Bool) throws {
        try checkDirectory(directory)
        if access(directory, F_OK) != 0 {
            guard !readOnly else { throw StoreError(.foreignDirectory, "\(directory) does not exist") }
            try makeDirectories(directory)
        }
    }

    static func makeDirectories(_ path: String) throws {
        var prefix = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            prefix += "/" + component
            if mkdir(prefix, 0o700) != 0 && errno != EEXIST {
                throw StoreError(.storage, "cannot create directory \(prefix): \(String(cString: strerror(errno)))")
            }
        }
    }

    /// Converts a store of an older format, or writes the format of a new one. `found` is the
    /// format the store had when it was opened (nil: none); ``init(directory:configuration:logger:)``
    /// already refused the formats this build cannot serve, and conversions in a read-only open.
    func checkOrInitializeFormat(found: UInt32?, fresh: Bool, readOnly: Bool) throws {
        if let found {
            if found != Schema.formatVersion { try upgradeFromFormat1() }
            return
        }
        let hasData = try read { reader in try reader.logHead() > 0 || reader.snapshotSource().records > 0 }
        guard fresh || !hasData, !readOnly else {
            throw StoreError(.foreignDirectory, "\(directory) has Longrun databases but no format version; nothing was changed. Run `longrun-replay verify` on it")
        }
        try write { writer in
            try writer.txn.put(schema.meta, key: Schema.MetaKey.formatVersion, value: Schema.formatVersionValue)
        }
        logger.info("created a new store", metadata: ["directory": "\(directory)", "format": "\(Schema.formatVersion)"])
    }

    static func unsupportedFormat(_ found: UInt32, directory: String) -> StoreError {
        let advice = found > Schema.formatVersion
            ? "it was written by a newer Longrun: run that version (or a newer one) on it"
            : "it was written by an older Longrun: build a store of this format from it with that version's `longrun-replay rebuild`"
        return StoreError(.unsupportedFormat,
                          "\(directory) has store format \(found); this build reads format \(Schema.formatVersion) only. Nothing was changed; \(advice)")
    }
}
