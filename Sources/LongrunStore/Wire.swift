/// The protobuf wire format, by hand, for the store's records: the reading side. The writing side,
/// ``WireWriter``, lives in LongrunDomain (package access), which also encodes the `ErrorInfo` of
/// the outcomes it decides.
///
/// The store encodes events and views as protobuf messages (described in docs/FORMAT.md) so any
/// protobuf library can read a data directory, but it does not link the protobuf runtime: the
/// storage layer stays free of RPC code, and the hot append and replay paths avoid its allocations.
import LongrunDomain

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Why a stored record could not be read. The store reports it as data loss with the key.
public struct CodecError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// Reads protobuf fields from a buffer (often straight from the LMDB map: no copy until a field's
/// value is taken). Unknown fields are skipped, so newer writers stay readable.
struct WireReader {
    private let buffer: UnsafeRawBufferPointer
    private var offset = 0
    /// Where ``recurringString()`` looks first; kept alive by whoever decodes (`unowned(unsafe)`,
    /// so that the reader and every nested one stay free of reference counting).
    private unowned(unsafe) let strings: RecordStrings?

    init(_ buffer: UnsafeRawBufferPointer, strings: RecordStrings? = nil) {
        self.buffer = buffer
        self.strings = strings
    }

    var isAtEnd: Bool { offset >= buffer.count }

    /// Most varints in a record are one byte (field keys, lengths, small numbers): those are read
    /// inline, the rest by ``longVarint()``.
    @inline(__always)
    mutating func varint() throws(CodecError) -> UInt64 {
        if offset < buffer.count, buffer[offset] < 0x80 {
            offset += 1
            return UInt64(buffer[offset - 1])
        }
        return try longVarint()
    }

    /// Where 8 bytes can be read at once (most of a record), the varint's bytes are found and
    /// joined from one load: a timestamp's nine bytes cost no loop of nine reads and bounds checks.
    private mutating func longVarint() throws(CodecError) -> UInt64 {
        if buffer.count - offset >= 10, let base = buffer.baseAddress {
            let word = UInt64(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
            let stops = ~word & 0x8080_8080_8080_8080
            if stops != 0 {
                // The lowest clear high bit ends the varint: keep its bytes, drop the others.
                let bits = stops.trailingZeroBitCount + 1
                offset += bits / 8
                return Self.joinSevenBitGroups(bits == 64 ? word : word & ((1 &<< UInt64(bits)) &- 1))
            }
            // Nine or ten bytes: the first eight carry 56 bits.
            let low = Self.joinSevenBitGroups(word)
            let ninth = base.load(fromByteOffset: offset + 8, as: UInt8.self)
            if ninth < 0x80 {
                offset += 9
                return low | UInt64(ninth) &<< 56
            }
            let tenth = base.load(fromByteOffset: offset + 9, as: UInt8.self)
            guard tenth <= 1 else { throw CodecError(message: "varint overflows 64 bits") }
            offset += 10
            return low | UInt64(ninth & 0x7F) &<< 56 | UInt64(tenth) &<< 63
        }
        return try shortVarint()
    }

    /// A varint of two bytes or more (``varint()`` read a one-byte one) within the last nine bytes
    /// of the buffer (a record's last fields, a nested message's): two bytes inline, more byte by
    /// byte.
    private mutating func shortVarint() throws(CodecError) -> UInt64 {
        if buffer.count - offset >= 2, buffer[offset + 1] < 0x80 {
            let value = UInt64(buffer[offset] & 0x7F) | UInt64(buffer[offset + 1]) &<< 7
            offset += 2
            return value
        }
        return try varintByteByByte()
    }

    /// The 7-bit groups of up to eight varint bytes (little-endian in `word`), joined.
    @inline(__always)
    private static func joinSevenBitGroups(_ word: UInt64) -> UInt64 {
        var x = word & 0x7F7F_7F7F_7F7F_7F7F
        x = (x & 0x007F_007F_007F_007F) | ((x & 0x7F00_7F00_7F00_7F00) &>> 1)
        x = (x & 0x0000_3FFF_0000_3FFF) | ((x & 0x3FFF_0000_3FFF_0000) &>> 2)
        return (x & 0x0000_0000_0FFF_FFFF) | ((x & 0x0FFF_FFFF_0000_0000) &>> 4)
    }

    private mutating func varintByteByByte() throws(CodecError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard offset < buffer.count else { throw CodecError(message: "truncated varint") }
            let byte = buffer[offset]
            offset += 1
            if shift == 63 && byte > 1 { throw CodecError(message: "varint overflows 64 bits") }
            result |= UInt64(byte & 0x7F) &<< shift // shift <= 63 here: no need for the checked shift
            if byte < 0x80 { return result }
            shift += 7
        }
    }

    /// The next field's number and wire type, or nil at the end.
    @inline(__always)
    mutating func nextField() throws(CodecError) -> (field: UInt32, wireType: UInt8)? {
        guard !isAtEnd else { return nil }
        let key = try varint()
        let field = key >> 3
        guard field > 0, field <= UInt64(UInt32.max >> 3) else { throw CodecError(message: "invalid field number \(field)") }
        return (UInt32(field), UInt8(key & 7))
    }

    mutating func uint() throws(CodecError) -> UInt64 { try varint() }
    mutating func int() throws(CodecError) -> Int64 { Int64(bitPattern: try varint()) }
    mutating func sint() throws(CodecError) -> Int64 {
        let raw = try varint()
        return Int64(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
    }

    @inline(__always)
    mutating func lengthDelimited() throws(CodecError) -> UnsafeRawBufferPointer {
        let length = try varint()
        guard length <= UInt64(buffer.count - offset) else {
            throw CodecError(message: "length \(length) runs past the end of the record")
        }
        let slice = UnsafeRawBufferPointer(rebasing: buffer[offset..<(offset + Int(length))])
        offset += Int(length)
        return slice
    }

    mutating func bytes() throws(CodecError) -> [UInt8] { Array(try lengthDelimited()) }
    mutating func string() throws(CodecError) -> String { String(decoding: try lengthDelimited(), as: UTF8.self) }
    mutating func message() throws(CodecError) -> WireReader { WireReader(try lengthDelimited(), strings: strings) }

    /// A string field whose values recur from record to record (a type URL, an actor's label or
    /// host): shared from the reader's ``RecordStrings`` when it met the same bytes before.
    mutating func recurringString() throws(CodecError) -> String {
        let bytes = try lengthDelimited()
        guard let strings else { return String(decoding: bytes, as: UTF8.self) }
        return strings.string(bytes)
    }

    mutating func skip(_ wireType: UInt8) throws(CodecError) {
        switch wireType {
        case 0: _ = try varint()
        case 1: try advance(8)
        case 2: _ = try lengthDelimited()
        case 5: try advance(4)
        default: throw CodecError(message: "unsupported wire type \(wireType)")
        }
    }

    /// Checks that a field has the wire type the schema gives it.
    @inline(__always)
    func expect(_ wireType: UInt8, _ expected: UInt8, field: UInt32) throws(CodecError) {
        guard wireType == expected else { throw Self.wrongWireType(wireType, expected, field: field) }
    }

    private static func wrongWireType(_ wireType: UInt8, _ expected: UInt8, field: UInt32) -> CodecError {
        CodecError(message: "field \(field) has wire type \(wireType), expected \(expected)")
    }

    private mutating func advance(_ count: Int) throws(CodecError) {
        guard count <= buffer.count - offset else { throw CodecError(message: "truncated fixed-width field") }
        offset += count
    }
}

/// The few strings that recur across the records one read decodes (type URLs, actor labels and
/// hosts): a decode that meets the same bytes again shares the `String` built the first time
/// instead of allocating and validating a copy. A List page or a replay chunk keeps one for its
/// records; it is not thread-safe and lives no longer than that read.
final class RecordStrings {
    /// Strings of up to 15 UTF-8 bytes are stored inline by Swift, without an allocation: cheaper
    /// to build than to look up.
    private static let inlineLimit = 15
    private static let capacity = 8
    private var entries: [(bytes: [UInt8], string: String)] = []
    private var nextVictim = 0

    init() {
        entries.reserveCapacity(Self.capacity)
    }

    func string(_ bytes: UnsafeRawBufferPointer) -> String {
        guard bytes.count > Self.inlineLimit else { return String(decoding: bytes, as: UTF8.self) }
        // By index, so that looking does not copy (retain and release) the entries it passes.
        for index in entries.indices where entries[index].bytes.count == bytes.count {
            let same = entries[index].bytes.withUnsafeBytes { memcmp($0.baseAddress!, bytes.baseAddress!, bytes.count) == 0 }
            if same { return entries[index].string }
        }
        let string = String(decoding: bytes, as: UTF8.self)
        if entries.count < Self.capacity {
            entries.append((Array(bytes), string))
        } else {
            entries[nextVictim] = (Array(bytes), string)
            nextVictim = (nextVictim + 1) % Self.capacity
        }
        return string
    }
}
