// libFuzzer target: log values and records as read back from LMDB, where a damaged or foreign data
// file can put any bytes.
//
// Properties: decoding any bytes as an event or an operation record either returns a value or
// throws `CodecError`, never traps; a decoded value re-encodes to bytes that decode to the same
// value, and re-encoding that is a fixed point. A log value splits into its 4-byte checksum, its
// 32-byte chain hash and its record exactly when it is longer than those, and `make` builds what
// `open` takes apart.
import LongrunDomain
@testable import LongrunStore

private func fail(_ message: String) -> Never {
    fatalError(message)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzEventCodec(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let buffer = UnsafeRawBufferPointer(start: data, count: size)

    if let event = try? RecordCodec.decodeEvent(buffer) {
        let bytes = RecordCodec.encode(event)
        let again: Event
        do { again = try bytes.withUnsafeBytes { try RecordCodec.decodeEvent($0) } } catch {
            fail("\(event) re-encodes to bytes that do not decode: \(error)")
        }
        guard again == event else { fail("\(event) re-encodes and decodes as \(again)") }
        guard RecordCodec.encode(again) == bytes else { fail("encoding \(event) is not a fixed point") }
    }

    if let state = try? RecordCodec.decodeState(buffer) {
        let bytes = RecordCodec.encode(state)
        let again: OperationState
        do { again = try bytes.withUnsafeBytes { try RecordCodec.decodeState($0) } } catch {
            fail("\(state) re-encodes to bytes that do not decode: \(error)")
        }
        guard again == state else { fail("\(state) re-encodes and decodes as \(again)") }
        guard RecordCodec.encode(again) == bytes else { fail("encoding \(state) is not a fixed point") }
    }

    // Log values: checksum · chain hash · record.
    let split = LogEntry.split(buffer)
    guard (split != nil) == (size > LogEntry.headerCount) else { fail("split of \(size) bytes") }
    if let (hash, record) = split {
        guard hash.bytes.elementsEqual(buffer.dropFirst(Checksum.byteCount).prefix(ChainHash.byteCount)),
              record.elementsEqual(buffer.dropFirst(LogEntry.headerCount))
        else { fail("split of \(size) bytes lost or moved bytes") }
        let (value, next) = LogEntry.make(sequence: 7, previous: hash, record: Array(record))
        guard let (madeHash, madeRecord) = value.withUnsafeBytes({ buffer in (try? LogEntry.open(buffer, sequence: 7)).map { ($0.hash, Array($0.record)) } }),
              madeHash == next, madeRecord.elementsEqual(record), next == hash.next(record: record)
        else { fail("make and open disagree for \(size) bytes") }
    }
    return 0
}
