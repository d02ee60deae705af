import LongrunDomain
@testable import LongrunStore
import LongrunTestSupport
import Testing

/// A varint is read from one 8-byte load where the buffer has room after it, and near its end from
/// its two bytes or byte by byte: all must agree on every value and where it ends, and refuse the
/// same malformed bytes.
@Suite("Wire reader")
struct WireTests {
    /// Values of every encoded length (1 to 10 bytes), with their edges, and random ones.
    static let values: [UInt64] = {
        var values: [UInt64] = [0, 1, 127, 128, 300, UInt64.max, UInt64.max - 1, 1 << 63, (1 << 63) - 1]
        for length in 1...9 {
            let limit: UInt64 = 1 << UInt64(7 * length)
            values += [limit - 1, limit, limit + 1]
        }
        var generator = SplitMix64(seed: 0x7A41)
        for _ in 0..<5_000 { values.append(generator.next() >> (generator.next() % 64)) }
        return values
    }()

    /// Three `fixed32` fields (number 1) to follow a varint: 15 bytes of room after it.
    static let trailer: [UInt8] = [0x0D, 1, 2, 3, 4, 0x0D, 5, 6, 7, 8, 0x0D, 9, 10, 11, 12]

    /// Reads one varint from `bytes`, followed by ``trailer`` when `trailed`, and checks that the
    /// reader then stands on the trailer's first field (or at the end).
    static func read(_ bytes: [UInt8], trailed: Bool) throws -> UInt64 {
        try (trailed ? bytes + trailer : bytes).withUnsafeBytes { raw in
            var reader = WireReader(raw)
            let value = try reader.uint()
            let next = try reader.nextField()
            if trailed {
                #expect(next?.field == 1 && next?.wireType == 5, "the varint \(bytes) ended elsewhere")
            } else {
                #expect(next == nil, "the varint \(bytes) ended before its last byte")
            }
            return value
        }
    }

    @Test func everyValueReadsTheSameWithRoomAfterItOrAtTheEnd() throws {
        for value in Self.values {
            var writer = WireWriter()
            writer.varint(value)
            for trailed in [false, true] {
                #expect(try Self.read(writer.bytes, trailed: trailed) == value, "\(value), trailed: \(trailed)")
            }
        }
    }

    @Test func overLongEncodingsReadAsTheirValue() throws {
        // Protobuf lets a small value take more bytes than it needs.
        for trailed in [false, true] {
            #expect(try Self.read([0x80, 0x80, 0x00], trailed: trailed) == 0)
            #expect(try Self.read([0xFF, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00], trailed: trailed) == 127)
            #expect(try Self.read([0x81] + [UInt8](repeating: 0x80, count: 8) + [0x00], trailed: trailed) == 1)
        }
    }

    @Test func malformedVarintsAreRefusedEitherWay() {
        let tooLong = [UInt8](repeating: 0xFF, count: 9) + [0x02]           // a 65th bit
        let neverEnds = [UInt8](repeating: 0x80, count: 10) + [0x00]         // an eleventh byte
        for bytes in [tooLong, neverEnds] {
            for trailed in [false, true] {
                #expect(throws: CodecError.self) { try Self.read(bytes, trailed: trailed) }
            }
        }
        // Cut short: the last byte still says more follows.
        for length in 1...10 {
            #expect(throws: CodecError.self) { try Self.read([UInt8](repeating: 0x81, count: length), trailed: false) }
        }
    }
}
