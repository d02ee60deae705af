import Crypto

/// The value stored under each sequence in the log: the event's chain hash, then its record.
///
/// `chain hash = SHA-256(previous entry's chain hash ‖ record bytes)`, starting from 32 zero bytes
/// before the first event. Editing, removing or reordering any event breaks the chain at that
/// event, so `verify` names it. The newest chain hash identifies the whole history: record it
/// outside the machine (as `longrun-replay verify` prints it) to detect a rewrite of the log too.
public struct ChainHash: Hashable, Sendable, CustomStringConvertible {
    public static let byteCount = 32
    public static let genesis = ChainHash(bytes: [UInt8](repeating: 0, count: byteCount))

    public let bytes: [UInt8]

    public init(bytes: [UInt8]) {
        precondition(bytes.count == Self.byteCount, "a chain hash has 32 bytes")
        self.bytes = bytes
    }

    /// The hash of the entry that follows `self` and holds `record`.
    public func next(record: UnsafeRawBufferPointer) -> ChainHash {
        var hasher = SHA256()
        hasher.update(data: bytes)
        hasher.update(bufferPointer: record)
        return ChainHash(bytes: Array(hasher.finalize()))
    }

    public var description: String {
        bytes.map { byte in
            let digits = Array("0123456789abcdef")
            return String([digits[Int(byte >> 4)], digits[Int(byte & 15)]])
        }.joined()
    }
}

/// Splits and builds log values: `CRC-32C (4 bytes) · chain hash (32 bytes) · LogRecord`, the
/// CRC over the key (the sequence) and everything after it (``Checksum``).
package enum LogEntry {
    package static let headerCount = Checksum.byteCount + ChainHash.byteCount

    package static func make(sequence: UInt64, previous: ChainHash, record: [UInt8]) -> (value: [UInt8], hash: ChainHash) {
        let hash = record.withUnsafeBytes { previous.next(record: $0) }
        var value = [UInt8](repeating: 0, count: Checksum.byteCount)
        value.reserveCapacity(headerCount + record.count)
        value += hash.bytes
        value += record
        let crc = Keys.sequence(sequence).withUnsafeBytes { key in
            value.withUnsafeBytes { Checksum.crc(key: key, body: UnsafeRawBufferPointer(rebasing: $0[Checksum.byteCount...])) }
        }
        withUnsafeBytes(of: crc.bigEndian) { bytes in for i in 0..<Checksum.byteCount { value[i] = bytes[i] } }
        return (value, hash)
    }

    /// The stored chain hash and the record bytes of a log value, without checking its checksum
    /// (for `verify`, which checks the chain first); nil if it is too short.
    package static func split(_ value: UnsafeRawBufferPointer) -> (hash: ChainHash, record: UnsafeRawBufferPointer)? {
        guard value.count > headerCount else { return nil }
        return (ChainHash(bytes: Array(value[Checksum.byteCount..<headerCount])),
                UnsafeRawBufferPointer(rebasing: value[headerCount...]))
    }

    /// Whether the checksum of the log value stored under `sequence` holds.
    static func checksumHolds(_ value: UnsafeRawBufferPointer, sequence: UInt64) -> Bool {
        withUnsafeBytes(of: sequence.bigEndian) { Checksum.body(key: $0, value: value) } != nil
    }

    /// The chain hash and record of the log value stored under `sequence`, or a `DATA_LOSS`
    /// ``StoreError`` naming the event if its checksum fails or it is too short.
    package static func open(_ value: UnsafeRawBufferPointer, sequence: UInt64) throws -> (hash: ChainHash, record: UnsafeRawBufferPointer) {
        guard checksumHolds(value, sequence: sequence), let parts = split(value) else {
            throw StoreError.damaged(DamagedRecord(database: "log", key: Keys.sequence(sequence)))
        }
        return parts
    }

    /// ``open(_:sequence:)`` for a reader that needs only the record (decoding, replay): the same
    /// checks, without copying out the chain hash.
    static func record(_ value: UnsafeRawBufferPointer, sequence: UInt64) throws -> UnsafeRawBufferPointer {
        guard value.count > headerCount, checksumHolds(value, sequence: sequence) else {
            throw StoreError.damaged(DamagedRecord(database: "log", key: Keys.sequence(sequence)))
        }
        return UnsafeRawBufferPointer(rebasing: value[headerCount...])
    }
}
