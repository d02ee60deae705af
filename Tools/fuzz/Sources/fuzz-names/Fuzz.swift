// libFuzzer target: resource names (operation names, collection names and parents) and request ids,
// the identifiers every RPC takes from its caller.
//
// The properties, and the naive reading of README.md's rules they compare the parsers with, are
// `NameProperties` (in the root package's LongrunFuzzProperties), which the seeded tests check too.
import LongrunFuzzProperties

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNames(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    if let violation = NameProperties.violation(text) { fatalError("\(text.debugDescription): \(violation)") }
    return 0
}
