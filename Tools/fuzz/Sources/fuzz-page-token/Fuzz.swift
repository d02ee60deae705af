// libFuzzer target: ListOperations page tokens (base64url), which callers send back as they please.
//
// Input: 8 bytes of expected binding, then the token text. The properties are
// `PageTokenProperties.inputViolation` (in the root package's LongrunFuzzProperties), whose
// per-token part the seeded tests check too.
import LongrunFuzzProperties

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPageToken(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if let violation = PageTokenProperties.inputViolation(bytes) { fatalError(violation) }
    return 0
}
