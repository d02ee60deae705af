import LongrunDomain
import LongrunStore

/// What decoding the store's records must satisfy, for the seeded tests
/// (`Tests/LongrunStoreTests/DecodingFuzzTests.swift`) and Tools/fuzz's `fuzz-event-codec`: a
/// damaged or foreign data file can put any bytes where a record is read.
public enum RecordProperties {
    /// Decoding `bytes` as an event either throws `CodecError` or gives an event that survives
    /// re-encoding, with a re-encoding that is a fixed point; a description of the break, or nil.
    public static func eventViolation(_ bytes: [UInt8]) -> String? {
        roundTripViolation(bytes, decode: RecordCodec.decodeEvent, encode: RecordCodec.encode)
    }

    /// As ``eventViolation(_:)``, for an operation record of the views.
    public static func stateViolation(_ bytes: [UInt8]) -> String? {
        roundTripViolation(bytes, decode: RecordCodec.decodeState, encode: RecordCodec.encode)
    }

    private static func roundTripViolation<Value: Equatable>(
        _ bytes: [UInt8], decode: (UnsafeRawBufferPointer) throws -> Value, encode: (Value) -> [UInt8]
    ) -> String? {
        guard let value = try? bytes.withUnsafeBytes(decode) else { return nil }
        let encoded = encode(value)
        guard let again = try? encoded.withUnsafeBytes(decode) else { return "\(value) re-encodes to bytes that do not decode" }
        guard again == value else { return "\(value) comes back as \(again)" }
        guard encode(again) == encoded else { return "encoding \(value) is not a fixed point" }
        return nil
    }

    /// A log value splits into its checksum, its chain hash and its record exactly when it is
    /// longer than those two, without losing or moving bytes; and `make` builds what `open` takes
    /// apart, with the hash that chains the record.
    public static func logValueViolation(_ bytes: [UInt8]) -> String? {
        bytes.withUnsafeBytes { buffer in
            let split = LogEntry.split(buffer)
            guard (split != nil) == (bytes.count > LogEntry.headerCount) else { return "split of \(bytes.count) bytes" }
            guard let (hash, record) = split else { return nil }
            guard hash.bytes.elementsEqual(bytes.dropFirst(Checksum.byteCount).prefix(ChainHash.byteCount)),
                  record.elementsEqual(bytes.dropFirst(LogEntry.headerCount))
            else { return "split of \(bytes.count) bytes lost or moved bytes" }
            let (value, next) = LogEntry.make(sequence: 7, previous: hash, record: Array(record))
            guard let (madeHash, madeRecord) = value.withUnsafeBytes({ made in (try? LogEntry.open(made, sequence: 7)).map { ($0.hash, Array($0.record)) } }),
                  madeHash == next, madeRecord.elementsEqual(record), next == hash.next(record: record)
            else { return "make and open disagree for \(bytes.count) bytes" }
            return nil
        }
    }
}
