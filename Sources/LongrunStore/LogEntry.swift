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

/// Splits and builds log values: `chain hash (32 bytes) · LogRecord`.
enum LogEntry {
    static func make(previous: ChainHash, record: [UInt8]) -> (value: [UInt8], hash: ChainHash) {
        let hash = record.withUnsafeBytes { previous.next(record: $0) }
        return (hash.bytes + record, hash)
    }

    /// The stored chain hash and the record bytes of a log value; nil if it is too short.
    static func split(_ value: UnsafeRawBufferPointer) -> (hash: ChainHash, record: UnsafeRawBufferPointer)? {
        guard value.count > ChainHash.byteCount else { return nil }
        return (ChainHash(bytes: Array(value[0..<ChainHash.byteCount])),
                UnsafeRawBufferPointer(rebasing: value[ChainHash.byteCount...]))
    }

    /// The record bytes of a log value, without copying the hash.
    static func record(_ value: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        guard value.count > ChainHash.byteCount else { return nil }
        return UnsafeRawBufferPointer(rebasing: value[ChainHash.byteCount...])
    }
}
