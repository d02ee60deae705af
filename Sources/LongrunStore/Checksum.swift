import CCRC32C
import LMDB
public import LongrunDomain

/// The CRC-32C every stored record carries (docs/FORMAT.md, "Checksums").
///
/// Every value in the log and in the views is `CRC-32C (4 bytes, big-endian) · body`, the CRC
/// taken over the key and then the body, so a flipped bit in either, or a record moved under
/// another key, is caught by the read that meets it. LMDB checks nothing of its own; the log's
/// hash chain catches edits too, but only when the chain is walked, and views have no chain.
/// The checksum is not a defence against someone rewriting records on purpose: the chain, the
/// background scrub and `longrun-replay verify` are.
package enum Checksum {
    package static let byteCount = 4

    static func crc(key: UnsafeRawBufferPointer, body: UnsafeRawBufferPointer) -> UInt32 {
        let partial = longrun_crc32c_extend(0, key.baseAddress, key.count)
        return longrun_crc32c_extend(partial, body.baseAddress, body.count)
    }

    /// `crc · body`, the value to store under `key`.
    package static func seal(key: [UInt8], body: [UInt8]) -> [UInt8] {
        key.withUnsafeBytes { key in body.withUnsafeBytes { body in seal(key: key, body: body) } }
    }

    static func seal(key: UnsafeRawBufferPointer, body: UnsafeRawBufferPointer) -> [UInt8] {
        var value: [UInt8] = []
        seal(key: key, body: body, into: &value)
        return value
    }

    /// ``seal(key:body:)`` written over what `value` held, for a writer that reuses one buffer
    /// from record to record.
    static func seal(key: UnsafeRawBufferPointer, body: UnsafeRawBufferPointer, into value: inout [UInt8]) {
        let count = byteCount + body.count
        // Resized only when the length changes (never, between two entries of one index).
        if value.count > count {
            value.removeLast(value.count - count)
        } else if value.count < count {
            value.append(contentsOf: repeatElement(0, count: count - value.count))
        }
        let crc = crc(key: key, body: body).bigEndian
        value.withUnsafeMutableBytes { value in
            value.storeBytes(of: crc, as: UInt32.self)
            if !body.isEmpty { UnsafeMutableRawBufferPointer(rebasing: value[byteCount...]).copyMemory(from: body) }
        }
    }

    /// ``seal(key:body:into:)`` for a body that `body` writes: it appends to `writer` (whose bytes
    /// it starts by clearing, keeping their capacity) after the checksum's place, and the checksum
    /// is written there, so the body is neither allocated apart nor copied.
    static func seal(key: UnsafeRawBufferPointer, into writer: inout WireWriter, body: (inout WireWriter) -> Void) {
        writer.bytes.removeAll(keepingCapacity: true)
        writer.bytes.append(contentsOf: repeatElement(0, count: byteCount))
        body(&writer)
        writer.bytes.withUnsafeMutableBytes { value in
            let crc = crc(key: key, body: UnsafeRawBufferPointer(rebasing: value[byteCount...])).bigEndian
            value.storeBytes(of: crc, as: UInt32.self)
        }
    }

    /// The body of a stored value if its checksum holds; nil if it does not (or it is too short).
    static func body(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        guard value.count >= byteCount else { return nil }
        let stored = UInt32(bigEndian: value.loadUnaligned(as: UInt32.self))
        let body = UnsafeRawBufferPointer(rebasing: value[byteCount...])
        return crc(key: key, body: body) == stored ? body : nil
    }

    /// The body of a value of `database`, or a `DATA_LOSS` ``StoreError`` naming the record.
    static func open(_ database: Database, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) throws -> UnsafeRawBufferPointer {
        try open(named: database.name, key: key, value: value)
    }

    package static func open(named database: String, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) throws -> UnsafeRawBufferPointer {
        guard let body = body(key: key, value: value) else {
            throw StoreError.damaged(DamagedRecord(database: database, key: Array(key)))
        }
        return body
    }

    static func open(_ database: Database, key: [UInt8], value: UnsafeRawBufferPointer) throws -> UnsafeRawBufferPointer {
        try key.withUnsafeBytes { key in try open(database, key: key, value: value) }
    }
}

/// A stored record whose checksum does not hold: where it is, and which operation or event it
/// belongs to when its key says so.
public struct DamagedRecord: Sendable, Hashable, CustomStringConvertible {
    /// The database (`log`, `operations_by_creation`, `names`, ...).
    public var database: String
    /// The record's key, as stored.
    public var key: [UInt8]

    /// The operation the record is of, when the reader knew it (a live record's key is its create
    /// sequence, which names none).
    private var knownOperation: OperationName?

    public init(database: String, key: [UInt8], operation: OperationName? = nil) {
        self.database = database
        self.key = key
        self.knownOperation = operation
    }

    /// The log sequence, for a record of the log.
    public var sequence: UInt64? {
        guard database == "log" else { return nil }
        return key.withUnsafeBytes { Keys.decodeSequence($0) }
    }

    /// The operation the record is of: the one the reader knew, else the one the key names, when it
    /// names one that parses: `tombstones` and `names` keys are the name; `engine_deadlines` and
    /// `expiry_candidates` keys end with it. (A live record's key and a history key name a create
    /// sequence: the scrub finds their operation through the record.)
    public var operation: OperationName? {
        if let knownOperation { return knownOperation }
        let text: [UInt8]
        switch database {
        case "tombstones", "names": text = key
        case "engine_deadlines" where key.count > 8: text = Array(key[8...])
        case "expiry_candidates" where key.count > 9: text = Array(key[9...])
        default: return nil
        }
        guard let string = String(validating: text, as: UTF8.self) else { return nil }
        return try? OperationName(parsing: string)
    }

    /// The key for people: the text of its UTF-8 parts, its binary parts in hex.
    public var printableKey: String {
        if let sequence { return "\(sequence)" }
        var text = ""
        var binary: [UInt8] = []
        func flush() {
            if !binary.isEmpty { text += "<" + binary.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined() + ">" }
            binary.removeAll()
        }
        for byte in key {
            if byte >= 0x20 && byte < 0x7F { flush(); text.append(Character(Unicode.Scalar(byte))) } else { binary.append(byte) }
        }
        flush()
        return text
    }

    public var description: String {
        if let sequence { return "log event \(sequence)" }
        return "\(database) record '\(printableKey)'"
    }
}
