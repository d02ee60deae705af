// libFuzzer target: log values and records as read back from LMDB, where a damaged or foreign data
// file can put any bytes.
//
// The properties are `RecordProperties` (in the root package's LongrunFuzzProperties), which the
// seeded tests check too: decoding as an event or an operation record returns a value or throws
// `CodecError`, never traps, and what decodes re-encodes to a fixed point; a log value splits into
// checksum, chain hash and record exactly when it is longer than those, and `make` builds what
// `open` takes apart.
import LongrunFuzzProperties

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzEventCodec(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeRawBufferPointer(start: data, count: size))
    if let violation = RecordProperties.eventViolation(bytes) ?? RecordProperties.stateViolation(bytes)
        ?? RecordProperties.logValueViolation(bytes) {
        fatalError("\(bytes.count) bytes: \(violation)")
    }
    return 0
}
