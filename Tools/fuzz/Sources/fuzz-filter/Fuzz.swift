// libFuzzer target: AIP-160 filter text, as ListOperations receives it.
//
// The properties and the records they are checked on are `FilterProperties` (in the root package's
// LongrunFuzzProperties), which the seeded tests check too.
import LongrunFuzzProperties

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzFilter(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    if let violation = FilterProperties.violation(text) { fatalError("\(text.debugDescription): \(violation)") }
    return 0
}
