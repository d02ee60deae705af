import Crypto
import LMDB
import LongrunDomain

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Snapshot files: a consistent copy of the operations' records at one sequence, so recovery and
/// rebuilds replay only the log after it and older log can be compacted. The other views are
/// derived when it is loaded: the indexes from each record, the history from the log (it is the
/// log's index, and about half of what a copy of every view would write). Snapshots of version 1
/// hold every view and still load. Format (docs/FORMAT.md, "Snapshots"):
///
///     "LRSNAP01" · u32 header length · SnapshotHeader
///     records: u8 view index · u32 key length · key · u32 value length · value
///     0xFF · u64 record count · SHA-256 of every byte before it
///
/// Written to a temporary file, fsynced, renamed into place, and the directory fsynced, so a crash
/// leaves either the whole snapshot or none.
public enum SnapshotFile {
    public struct Info: Sendable, Equatable {
        public var path: String
        public var sequence: UInt64
        public var sizeBytes: UInt64
    }

    public struct Header: Sendable, Equatable {
        /// 2: the `operations` records only, the other views derived at load; 1: every view.
        public var version: UInt32 = SnapshotFile.version
        public var sequence: UInt64
        /// Chain hash of the event at `sequence`: ties the snapshot to one history.
        public var chainHash: ChainHash
        public var createdUnixNanos: Int64
        public var records: UInt64 = 0
        /// The store format of the records: 1 before checksums (loading seals them), 2 with them.
        public var storeFormat: UInt32 = Schema.formatVersion
        /// The ``Lifecycle/foldRevision`` its states were folded by (1 in snapshots from before
        /// revisions were recorded).
        public var foldRevision: UInt32 = Lifecycle.foldRevision
    }

    /// The version written: records only.
    public static let version: UInt32 = 2
    static let magic = Array("LRSNAP01".utf8)
    static let endMarker: UInt8 = 0xFF
    static let prefix = "snapshot-"
    static let suffix = ".lrsnap"

    /// Snapshots in `directory`, newest first. A missing directory has none.
    public static func list(in directory: String) throws -> [Info] {
        guard let handle = opendir(directory) else { return [] }
        defer { closedir(handle) }
        var found: [Info] = []
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            guard name.hasPrefix(prefix), name.hasSuffix(suffix),
                  let sequence = UInt64(name.dropFirst(prefix.count).dropLast(suffix.count))
            else { continue }
            var info = stat()
            let path = directory + "/" + name
            guard stat(path, &info) == 0 else { continue }
            found.append(Info(path: path, sequence: sequence, sizeBytes: UInt64(info.st_size)))
        }
        return found.sorted { $0.sequence > $1.sequence }
    }

    /// Writes a snapshot of `store`'s records as of its last commit into `directory`, then removes
    /// all but the newest `keep`. Returns the existing snapshot if one is already at that sequence.
    @discardableResult
    public static func write(_ store: Store, into directory: String, keep: Int, createdUnixNanos: Int64) throws -> Info {
        try write(store, into: directory, keep: keep, createdUnixNanos: createdUnixNanos, version: version)
    }

    /// ``write(_:into:keep:createdUnixNanos:)`` in either version: 1 writes every view, as builds
    /// before version 2 did (the tests load such snapshots).
    static func write(_ store: Store, into directory: String, keep: Int, createdUnixNanos: Int64, version: UInt32) throws -> Info {
        if mkdir(directory, 0o700) != 0 && errno != EEXIST {
            throw StoreError(.storage, "cannot create the snapshot directory \(directory): \(String(cString: strerror(errno)))")
        }
        let info: Info = try store.read { reader in
            let sequence = try reader.appliedSequence()
            let finalPath = directory + "/" + prefix + String(sequence).leftPadded(20) + suffix
            if let existing = try list(in: directory).first(where: { $0.sequence == sequence }) { return existing }
            var chainHash = ChainHash.genesis
            if sequence > 0 {
                guard let entry = try reader.txn.get(reader.schema.log, key: Keys.sequence(sequence)) else {
                    throw StoreError(.dataLoss, "the log has no event \(sequence) for the snapshot to anchor to")
                }
                chainHash = try LogEntry.open(entry, sequence: sequence).hash
            }
            let temporary = directory + "/.tmp-" + String(sequence) + "-" + String(getpid())
            let file = try OutputFile(path: temporary)
            do {
                file.write(magic)
                let header = encodeHeader(Header(version: version, sequence: sequence, chainHash: chainHash, createdUnixNanos: createdUnixNanos))
                file.write(bigEndian: UInt32(header.count))
                file.write(header)
                var records: UInt64 = 0
                let views = reader.schema.views
                for (index, database) in views.enumerated() where version == 1 || index == operationsView {
                    try reader.txn.withCursor(database) { cursor in
                        var entry = try cursor.first()
                        while let (key, value) = entry {
                            // A damaged record is never copied into a snapshot, where it would outlive a repair.
                            _ = try Checksum.open(database, key: key, value: value)
                            file.write([UInt8(index)])
                            file.write(bigEndian: UInt32(key.count))
                            file.write(key)
                            file.write(bigEndian: UInt32(value.count))
                            file.write(value)
                            records += 1
                            entry = try cursor.next()
                        }
                    }
                }
                file.write([endMarker])
                file.write(bigEndian: records)
                try file.finish()
            } catch {
                file.abandon()
                throw error
            }
            guard rename(temporary, finalPath) == 0 else {
                unlink(temporary)
                throw StoreError(.storage, "cannot rename the snapshot into \(finalPath): \(String(cString: strerror(errno)))")
            }
            syncDirectory(directory)
            var info = stat()
            stat(finalPath, &info)
            return Info(path: finalPath, sequence: sequence, sizeBytes: UInt64(info.st_size))
        }
        for old in try list(in: directory).dropFirst(max(keep, 1)) { unlink(old.path) }
        return info
    }

    /// Checks a snapshot's structure and its SHA-256 trailer; returns its header.
    public static func verify(_ path: String) throws -> Header {
        try read(path) { _, _, _ in }
    }

    /// Reads only the header: cheap, for choosing a snapshot. Its contents are verified when it is
    /// loaded (``load(_:into:logStart:)`` verifies first) and by `verify`.
    public static func readHeader(_ path: String) throws -> Header {
        let file = try InputFile(path: path)
        func fail(_ why: String) -> StoreError { StoreError(.dataLoss, "snapshot \(path) is damaged: \(why)") }
        guard try file.read(8) == magic else { throw fail("it does not start with LRSNAP01") }
        let headerLength = try file.readUInt32()
        guard headerLength < 1 << 20 else { throw fail("its header is \(headerLength) bytes") }
        guard let header = try decodeHeader(try file.read(Int(headerLength))) else { throw fail("its header cannot be decoded") }
        return header
    }

    /// Loads a verified snapshot into a store whose views are empty, and records its sequence as
    /// applied. Of version 2, its records, with the index entries each implies and the history of
    /// the store's own log from `logStart` through the snapshot (a rebuild copying the log later
    /// adds the history of what it copies); of version 1, every view it holds. History entries of
    /// events before `logStart` are left out: those events were compacted out of the log after the
    /// snapshot was taken.
    static func load(_ path: String, into writer: StoreWriter, logStart: UInt64) throws {
        // Verify first, so that a damaged file never leaves half its records behind.
        let verified = try verify(path)
        let views = writer.schema.views
        let history = views.firstIndex(of: writer.schema.history)
        let recordsOnly = verified.version >= 2
        let header = try read(path) { index, key, value in
            guard Int(index) < views.count, !recordsOnly || Int(index) == operationsView else {
                throw StoreError(.dataLoss, "snapshot \(path) names view \(index), which this build does not have in a snapshot of version \(verified.version)")
            }
            if recordsOnly {
                let state = try value.withUnsafeBytes { value in
                    let body = try Checksum.open(writer.schema.operations, key: key, value: value)
                    do { return try RecordCodec.decodeState(body, strings: nil) } catch {
                        throw StoreError(.dataLoss, "snapshot \(path) holds a record that cannot be decoded (\(error)); delete the snapshot, the log can replace it")
                    }
                }
                try writer.txn.put(writer.schema.operations, key: key, value: value)
                try writer.putIndexes(of: state)
                return
            }
            if Int(index) == history, key.count > 8,
               let sequence = key.withUnsafeBytes({ Keys.decodeSequence(UnsafeRawBufferPointer(rebasing: $0[($0.count - 8)...])) }),
               sequence < logStart {
                return
            }
            if verified.storeFormat == 1 {
                try writer.putSealed(views[Int(index)], key: key, body: value)
            } else {
                _ = try value.withUnsafeBytes { try Checksum.open(views[Int(index)], key: key, value: $0) }
                try writer.txn.put(views[Int(index)], key: key, value: value)
            }
        }
        if recordsOnly { try writer.putHistory(from: logStart, through: header.sequence) }
        try writer.setAppliedSequence(header.sequence)
    }

    /// The view index of the `operations` records in a snapshot (the first of ``Schema/views``).
    static let operationsView = 0

    /// The `operations` records (view 0) stored under `keys` in the snapshot at `path`, without their
    /// checksums; verifies the snapshot first.
    static func operationRecords(_ path: String, names keys: Set<[UInt8]>) throws -> [[UInt8]: [UInt8]] {
        let header = try verify(path)
        var found: [[UInt8]: [UInt8]] = [:]
        _ = try read(path) { index, key, value in
            guard Int(index) == operationsView, keys.contains(key) else { return }
            if header.storeFormat == 1 {
                found[key] = value
            } else {
                found[key] = try key.withUnsafeBytes { key in
                    try value.withUnsafeBytes { Array(try Checksum.open(named: "operations", key: key, value: $0)) }
                }
            }
        }
        return found
    }

    /// Reads every record of the snapshot at `path`, verifying the trailer hash at the end.
    private static func read(_ path: String, record: (UInt8, [UInt8], [UInt8]) throws -> Void) throws -> Header {
        let file = try InputFile(path: path)
        func fail(_ why: String) -> StoreError { StoreError(.dataLoss, "snapshot \(path) is damaged: \(why); delete it, a newer or older one or the log can replace it") }
        guard try file.read(8) == magic else { throw fail("it does not start with LRSNAP01") }
        let headerLength = try file.readUInt32()
        guard headerLength < 1 << 20 else { throw fail("its header is \(headerLength) bytes") }
        guard var header = try decodeHeader(try file.read(Int(headerLength))) else { throw fail("its header cannot be decoded") }
        var count: UInt64 = 0
        while true {
            let index = try file.read(1)[0]
            if index == endMarker { break }
            let key = try file.read(Int(try file.readUInt32()))
            let value = try file.read(Int(try file.readUInt32()))
            try record(index, key, value)
            count += 1
        }
        let expectedCount = try file.readUInt64()
        let digest = file.digest
        guard try file.read(32) == digest else { throw fail("its SHA-256 does not match its contents") }
        guard file.atEnd else { throw fail("it has bytes after its checksum") }
        guard expectedCount == count else { throw fail("it holds \(count) records but says \(expectedCount)") }
        header.records = count
        return header
    }

    private static func encodeHeader(_ header: Header) -> [UInt8] {
        var writer = WireWriter()
        writer.uint(1, UInt64(header.version))
        writer.uint(2, header.sequence)
        writer.bytes(3, header.chainHash.bytes)
        writer.sint(4, header.createdUnixNanos)
        writer.uint(5, UInt64(Schema.formatVersion))
        writer.uint(6, UInt64(Lifecycle.foldRevision))
        return writer.bytes
    }

    private static func decodeHeader(_ bytes: [UInt8]) throws -> Header? {
        try bytes.withUnsafeBytes { buffer in
            var reader = WireReader(buffer)
            var version: UInt64 = 0, storeFormat: UInt64 = 0, sequence: UInt64 = 0, foldRevision: UInt64 = 1
            var hash: [UInt8] = []
            var created: Int64 = 0
            while let (field, type) = try reader.nextField() {
                switch field {
                case 1: version = try reader.uint()
                case 2: sequence = try reader.uint()
                case 3: hash = try reader.bytes()
                case 4: created = try reader.sint()
                case 5: storeFormat = try reader.uint()
                case 6: foldRevision = try reader.uint()
                default: try reader.skip(type)
                }
            }
            guard (1...UInt64(Self.version)).contains(version), (1...UInt64(Schema.formatVersion)).contains(storeFormat), hash.count == ChainHash.byteCount,
                  let foldRevision = UInt32(exactly: foldRevision)
            else { return nil }
            return Header(version: UInt32(version), sequence: sequence, chainHash: ChainHash(bytes: hash), createdUnixNanos: created, storeFormat: UInt32(storeFormat),
                          foldRevision: foldRevision)
        }
    }

}
