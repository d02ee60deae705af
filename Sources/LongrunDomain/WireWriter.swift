/// The protobuf wire format, by hand: the writing side, for the store's records (LongrunStore reads
/// them back with its `WireReader`) and for the few protobuf messages the domain itself produces
/// (the `google.rpc.ErrorInfo` of an outcome it decides). No protobuf runtime: the domain and the
/// storage layer stay free of RPC code, and the hot append path avoids its allocations.
///
/// Inlinable, so that an encoder in another module (the store's) inlines the writes and the
/// bodies of nested messages instead of calling across modules for every field.
package struct WireWriter {
    // Settable within the package only so that the inlinable writes can reach it.
    @usableFromInline package var bytes: [UInt8]

    @inlinable package init(capacity: Int = 128) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    @inlinable @inline(__always) package mutating func varint(_ value: UInt64) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }

    @inlinable @inline(__always) package mutating func tag(_ field: UInt32, _ wireType: UInt8) {
        varint(UInt64(field) << 3 | UInt64(wireType))
    }

    /// A `uint64`/`uint32`/`bool` field; zero is written only when `always` (proto3 `optional`).
    @inlinable package mutating func uint(_ field: UInt32, _ value: UInt64, always: Bool = false) {
        guard value != 0 || always else { return }
        tag(field, 0)
        varint(value)
    }

    /// An `int32`/`int64` field (two's complement varint, as protobuf does).
    @inlinable package mutating func int(_ field: UInt32, _ value: Int64, always: Bool = false) {
        uint(field, UInt64(bitPattern: value), always: always)
    }

    /// An `sint64` field (zig-zag).
    @inlinable package mutating func sint(_ field: UInt32, _ value: Int64, always: Bool = false) {
        uint(field, UInt64(bitPattern: (value << 1) ^ (value >> 63)), always: always)
    }

    /// A `fixed64`/`double` field (a double as its bit pattern), always written.
    @inlinable package mutating func fixed64(_ field: UInt32, _ bits: UInt64) {
        tag(field, 1)
        for shift in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: bits >> UInt64(shift))) }
    }

    @inlinable package mutating func bytes(_ field: UInt32, _ value: [UInt8], always: Bool = false) {
        guard !value.isEmpty || always else { return }
        tag(field, 2)
        varint(UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    @inlinable package mutating func string(_ field: UInt32, _ value: String, always: Bool = false) {
        guard !value.isEmpty || always else { return }
        tag(field, 2)
        varint(UInt64(value.utf8.count))
        bytes.append(contentsOf: value.utf8)
    }

    /// A nested message, written by `body` and length-prefixed. Always written (presence matters).
    ///
    /// `body` appends to the writer it is given, which is this one (holding what was written
    /// before), after one byte kept for the length; a body of 128 bytes or more
    /// (rare in the store's records) moves over for the longer length. The bytes are the same as
    /// writing the body apart and copying it in, without allocating a buffer per nested message.
    @inlinable package mutating func message(_ field: UInt32, _ body: (inout WireWriter) -> Void) {
        tag(field, 2)
        let lengthAt = bytes.count
        bytes.append(0)
        body(&self)
        let length = bytes.count - lengthAt - 1
        if length < 0x80 {
            bytes[lengthAt] = UInt8(length)
        } else {
            var prefix = WireWriter(capacity: 10)
            prefix.varint(UInt64(length))
            bytes.replaceSubrange(lengthAt..<(lengthAt + 1), with: prefix.bytes)
        }
    }
}

