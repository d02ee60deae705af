// libFuzzer target: ListOperations page tokens (base64url), which callers send back as they please.
//
// Input: 8 bytes of expected binding, then the token text. Properties: decoding throws only
// INVALID_ARGUMENT with one of the two documented reasons; an accepted token is the one and only
// encoding of its value and carries the expected binding; base64url decodes exactly what it encodes.
@testable import LongrunDomain

private func fail(_ message: String) -> Never {
    fatalError(message)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPageToken(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    var expected: UInt64 = 0
    for byte in bytes.prefix(8) { expected = expected << 8 | UInt64(byte) }
    let text = String(decoding: bytes.dropFirst(8), as: UTF8.self)

    do {
        let token = try PageToken(decoding: text, expectedBinding: expected)
        guard token.binding == expected, token.encoded == text else {
            fail("accepted \(text.debugDescription) as \(token), which encodes as \(token.encoded)")
        }
    } catch {
        guard error.kind == .invalidArgument, error.reason == .invalidPageToken || error.reason == .pageTokenMismatch else {
            fail("unexpected error for \(text.debugDescription): \(error)")
        }
    }

    // Base64url: whatever decodes, re-encodes to the same text; every byte string round-trips.
    if let decoded = Base64URL.decode(text), Base64URL.encode(decoded) != text {
        fail("base64url \(text.debugDescription) decodes to \(decoded), which encodes differently")
    }
    let raw = Array(bytes)
    guard Base64URL.decode(Base64URL.encode(raw)) == raw else { fail("base64url does not round-trip \(raw)") }

    // A token made from the input's first 16 bytes decodes under its binding only, and never when cut.
    if size >= 16 {
        var position: UInt64 = 0
        for byte in bytes[8..<16] { position = position << 8 | UInt64(byte) }
        let token = PageToken(position: position, binding: expected)
        let encoded = token.encoded
        guard (try? PageToken(decoding: encoded, expectedBinding: expected)) == token else { fail("\(token) does not round-trip") }
        do {
            _ = try PageToken(decoding: encoded, expectedBinding: expected &+ 1)
            fail("\(token) decoded under another binding")
        } catch {
            guard error.reason == .pageTokenMismatch else { fail("wrong reason for a mismatched binding: \(error)") }
        }
        let cut = String(encoded.dropLast(Int(bytes[0]) % encoded.count + 1))
        if (try? PageToken(decoding: cut, expectedBinding: expected)) != nil { fail("truncated token \(cut) accepted") }
    }
    return 0
}
