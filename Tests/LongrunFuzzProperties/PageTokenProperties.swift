import LongrunDomain

/// What page tokens must satisfy, for the seeded tests and Tools/fuzz's `fuzz-page-token`.
public enum PageTokenProperties {
    /// A description of the first property decoding `text` under `expected` breaks, or nil:
    /// decoding throws only INVALID_ARGUMENT with one of the two documented reasons; an accepted
    /// token is the one and only encoding of its value and carries the expected binding;
    /// base64url decodes only canonical text.
    public static func violation(_ text: String, expected: UInt64) -> String? {
        do {
            let token = try PageToken(decoding: text, expectedBinding: expected)
            guard token.binding == expected, token.encoded == text else { return "accepted as \(token), which encodes as \(token.encoded)" }
        } catch {
            guard error.kind == .invalidArgument, [.invalidPageToken, .pageTokenMismatch].contains(error.reason) else {
                return "unexpected \(error)"
            }
        }
        if let bytes = Base64URL.decode(text), Base64URL.encode(bytes) != text { return "base64url decodes it to \(bytes), which encodes differently" }
        return nil
    }

    /// The libFuzzer input's properties: 8 bytes of expected binding, then the token text (see
    /// ``violation(_:expected:)``). Besides, every byte string round-trips through base64url, and
    /// a token made from the first 16 bytes decodes under its binding only, and never when cut.
    public static func inputViolation(_ bytes: [UInt8]) -> String? {
        var expected: UInt64 = 0
        for byte in bytes.prefix(8) { expected = expected << 8 | UInt64(byte) }
        let text = String(decoding: bytes.dropFirst(8), as: UTF8.self)
        if let violation = violation(text, expected: expected) { return "\(text.debugDescription): \(violation)" }
        guard Base64URL.decode(Base64URL.encode(bytes)) == bytes else { return "base64url does not round-trip \(bytes)" }
        guard bytes.count >= 16 else { return nil }
        var position: UInt64 = 0
        for byte in bytes[8..<16] { position = position << 8 | UInt64(byte) }
        let token = PageToken(position: position, binding: expected)
        let encoded = token.encoded
        guard (try? PageToken(decoding: encoded, expectedBinding: expected)) == token else { return "\(token) does not round-trip" }
        do {
            _ = try PageToken(decoding: encoded, expectedBinding: expected &+ 1)
            return "\(token) decoded under another binding"
        } catch {
            guard error.reason == .pageTokenMismatch else { return "wrong reason for a mismatched binding: \(error)" }
        }
        let cut = String(encoded.dropLast(Int(bytes[0]) % encoded.count + 1))
        if (try? PageToken(decoding: cut, expectedBinding: expected)) != nil { return "truncated token \(cut) accepted" }
        return nil
    }
}
