/// A bounds-checked reader of the protobuf wire format over bytes it does not own, for filters
/// that look inside payloads: it walks one message's fields in place, allocating nothing.
///
/// Hostile bytes cannot make it trap or loop: every read checks the end first, a varint is at
/// most 10 bytes, a length past the end, a group or an unknown wire type ends the message (what
/// was read before stays read), and every step moves forward. Nesting is followed only as deep as
/// the filter's path asks (``PayloadPath/maximumSegments``), never as deep as the data goes.
struct WireScanner {
    enum WireType: UInt8 {
        case varint = 0, fixed64 = 1, lengthDelimited = 2, fixed32 = 5
    }

    /// One field occurrence: its number, and its value as the wire type carries it.
    struct FieldValue {
        var number: UInt64
        var wireType: WireType
        /// The varint, or the fixed-width bits.
        var scalar: UInt64
        /// The bytes of a length-delimited value.
        var bytes: UnsafeBufferPointer<UInt8>
    }

    let buffer: UnsafeBufferPointer<UInt8>
    private(set) var index: Int
    /// Set when the bytes stopped making sense: the scan ended there.
    private(set) var malformed = false

    init(_ buffer: UnsafeBufferPointer<UInt8>) {
        self.buffer = buffer
        self.index = 0
    }

    /// The next field, or nil at the end (or at the first malformed byte).
    mutating func next() -> FieldValue? {
        guard index < buffer.count, !malformed else { return nil }
        guard let key = varint(), let wireType = WireType(rawValue: UInt8(key & 7)), key >> 3 != 0 else { return fail() }
        var value = FieldValue(number: key >> 3, wireType: wireType, scalar: 0, bytes: UnsafeBufferPointer(rebasing: buffer[0..<0]))
        switch wireType {
        case .varint:
            guard let scalar = varint() else { return fail() }
            value.scalar = scalar
        case .fixed64:
            guard let scalar = fixedValue(8) else { return fail() }
            value.scalar = scalar
        case .fixed32:
            guard let scalar = fixedValue(4) else { return fail() }
            value.scalar = scalar
        case .lengthDelimited:
            guard let length = varint(), length <= UInt64(buffer.count - index) else { return fail() }
            let end = index + Int(length)
            value.bytes = UnsafeBufferPointer(rebasing: buffer[index..<end])
            index = end
        }
        return value
    }

    private mutating func fail() -> FieldValue? {
        malformed = true
        return nil
    }

    /// A base-128 varint of at most 10 bytes; nil if it runs past the end or is longer.
    mutating func varint() -> UInt64? {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while index < buffer.count, shift < 70 {
            let byte = buffer[index]
            index += 1
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
        return nil
    }

    /// `width` little-endian bytes (4 or 8); nil if they run past the end.
    mutating func fixedValue(_ width: Int) -> UInt64? {
        guard buffer.count - index >= width else { return nil }
        var result: UInt64 = 0
        for offset in 0..<width {
            result |= UInt64(buffer[index + offset]) << (8 * UInt64(offset))
        }
        index += width
        return result
    }
}
