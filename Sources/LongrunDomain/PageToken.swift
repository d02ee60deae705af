/// An opaque, URL-safe page token (AIP-158): a keyset position bound to the request it came from.
///
/// It holds the position to resume after (a sequence number) and a hash of what the listing was
/// bound to (collection and canonical filter, or an operation name); a token presented with a
/// different binding is refused. It grants no authority: it is only a position.
/// Layout before base64url: version (1) · position (8, BE) · binding (8, BE) · check (2).
public struct PageToken: Hashable, Sendable {
    public var position: UInt64
    public var binding: UInt64

    public init(position: UInt64, binding: UInt64) {
        self.position = position
        self.binding = binding
    }

    /// FNV-1a over the parts, separated by a 0x1F byte so that `("a", "bc")` and `("ab", "c")` differ.
    public static func binding(_ parts: String...) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for (index, part) in parts.enumerated() {
            if index > 0 { hash = (hash ^ 0x1F) &* 0x0000_0100_0000_01B3 }
            for byte in part.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        }
        return hash
    }

    public var encoded: String {
        var bytes: [UInt8] = [1]
        bytes.reserveCapacity(19)
        for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: position >> UInt64(shift))) }
        for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: binding >> UInt64(shift))) }
        let check = Self.check(bytes)
        bytes.append(UInt8(check >> 8))
        bytes.append(UInt8(check & 0xFF))
        return Base64URL.encode(bytes)
    }

    /// Decodes `text`, refusing garbage and tokens bound to another request.
    public init(decoding text: String, expectedBinding: UInt64) throws(DomainError) {
        guard text.utf8.count <= 64, let bytes = Base64URL.decode(text), bytes.count == 19, bytes[0] == 1,
              Self.check(Array(bytes[0..<17])) == UInt16(bytes[17]) << 8 | UInt16(bytes[18])
        else {
            throw .invalidPageToken
        }
        var position: UInt64 = 0
        var binding: UInt64 = 0
        for byte in bytes[1..<9] { position = position << 8 | UInt64(byte) }
        for byte in bytes[9..<17] { binding = binding << 8 | UInt64(byte) }
        guard binding == expectedBinding else {
            throw .pageTokenMismatch("name or filter")
        }
        self.init(position: position, binding: binding)
    }

    private static func check(_ bytes: [UInt8]) -> UInt16 { tokenCheck(bytes) }
}

/// The page token of a list of collections: the parent of the last collection returned, bound to
/// the request like ``PageToken``. Opaque and URL-safe, and grants nothing.
/// Layout before base64url: version (2) · binding (8, BE) · parent (UTF-8) · check (2).
public struct CollectionPageToken: Hashable, Sendable {
    public var after: String
    public var binding: UInt64

    public init(after: String, binding: UInt64) {
        self.after = after
        self.binding = binding
    }

    public var encoded: String {
        var bytes: [UInt8] = [2]
        for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: binding >> UInt64(shift))) }
        bytes.append(contentsOf: after.utf8)
        let check = Self.check(bytes)
        bytes.append(UInt8(check >> 8))
        bytes.append(UInt8(check & 0xFF))
        return Base64URL.encode(bytes)
    }

    public init(decoding text: String, expectedBinding: UInt64) throws(DomainError) {
        guard text.utf8.count <= 512, let bytes = Base64URL.decode(text), bytes.count >= 11, bytes[0] == 2,
              Self.check(Array(bytes[0..<(bytes.count - 2)])) == UInt16(bytes[bytes.count - 2]) << 8 | UInt16(bytes[bytes.count - 1]),
              let after = String(validating: bytes[9..<(bytes.count - 2)], as: UTF8.self)
        else {
            throw .invalidPageToken
        }
        var binding: UInt64 = 0
        for byte in bytes[1..<9] { binding = binding << 8 | UInt64(byte) }
        guard binding == expectedBinding else {
            throw .pageTokenMismatch("name")
        }
        self.init(after: after, binding: binding)
    }

    private static func check(_ bytes: [UInt8]) -> UInt16 { tokenCheck(bytes) }
}

/// The 16-bit check that ends every page token: FNV-1a (32 bits) folded in half.
private func tokenCheck(_ bytes: [UInt8]) -> UInt16 {
    var hash: UInt32 = 0x811C_9DC5
    for byte in bytes { hash = (hash ^ UInt32(byte)) &* 0x0100_0193 }
    return UInt16(truncatingIfNeeded: hash ^ (hash >> 16))
}

extension DomainError {
    static let invalidPageToken = DomainError(.invalidArgument, reason: .invalidPageToken,
                                              "page_token is not a token this server issued (it may be truncated); start again without a page_token")

    /// A token issued for another request: `what` differed (its name, or its name or filter).
    static func pageTokenMismatch(_ what: String) -> DomainError {
        DomainError(.invalidArgument, reason: .pageTokenMismatch,
                    "page_token was issued for a different \(what); repeat the request that produced it, or start again without a page_token")
    }
}

/// RFC 4648 base64url without padding.
package enum Base64URL {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    package static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count * 4 + 2) / 3)
        var index = 0
        while index < bytes.count {
            let b0 = UInt32(bytes[index])
            let b1 = index + 1 < bytes.count ? UInt32(bytes[index + 1]) : 0
            let b2 = index + 2 < bytes.count ? UInt32(bytes[index + 2]) : 0
            let triple = b0 << 16 | b1 << 8 | b2
            out.append(alphabet[Int(triple >> 18 & 63)])
            out.append(alphabet[Int(triple >> 12 & 63)])
            if index + 1 < bytes.count { out.append(alphabet[Int(triple >> 6 & 63)]) }
            if index + 2 < bytes.count { out.append(alphabet[Int(triple & 63)]) }
            index += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    package static func decode(_ text: String) -> [UInt8]? {
        var values: [UInt8] = []
        values.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): values.append(byte - UInt8(ascii: "A"))
            case UInt8(ascii: "a")...UInt8(ascii: "z"): values.append(byte - UInt8(ascii: "a") + 26)
            case UInt8(ascii: "0")...UInt8(ascii: "9"): values.append(byte - UInt8(ascii: "0") + 52)
            case UInt8(ascii: "-"): values.append(62)
            case UInt8(ascii: "_"): values.append(63)
            default: return nil
            }
        }
        guard values.count % 4 != 1 else { return nil }
        var out: [UInt8] = []
        var index = 0
        while index < values.count {
            let chunk = values[index..<min(index + 4, values.count)]
            var triple: UInt32 = 0
            for (offset, value) in chunk.enumerated() { triple |= UInt32(value) << UInt32(18 - 6 * offset) }
            out.append(UInt8(triple >> 16 & 0xFF))
            if chunk.count > 2 { out.append(UInt8(triple >> 8 & 0xFF)) }
            if chunk.count > 3 { out.append(UInt8(triple & 0xFF)) }
            index += 4
        }
        // Reject non-canonical encodings (stray bits in the last character).
        guard encode(out) == text else { return nil }
        return out
    }
}
