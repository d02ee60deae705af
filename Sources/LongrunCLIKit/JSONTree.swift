import LongrunDefaults

/// Rewrites JSON text with the members of every object in sorted key order (by Unicode scalars
/// of the decoded key), recursively through nested objects and arrays, keeping every other token
/// byte for byte.
///
/// SwiftProtobuf prints a `google.protobuf.Struct` (and map fields, unless asked for deterministic
/// ordering) in the order of a Swift `Dictionary`, which changes from one process to the next; so
/// two dumps of the same store would differ. The payload renderers (``JSONOutput``,
/// ``HumanOutput/contentJSON(_:)``) pass their JSON through this so that an audit diff shows only
/// real changes. Invalid JSON is returned unchanged.
package enum SortedKeysJSON {
    package static func sorted(_ json: String) -> String {
        guard let tree = JSONTree(parsing: json) else { return json }
        return tree.sorted().text
    }
}

/// JSON text as a tree that keeps every string, number and literal token byte for byte: for
/// rewriting the JSON SwiftProtobuf prints without reformatting any value.
package indirect enum JSONTree {
    /// A string, number or literal, as written.
    case token(ArraySlice<UInt8>)
    case array([JSONTree])
    case object([Member])

    package struct Member {
        /// The key as written, quotes and escapes included.
        package var key: ArraySlice<UInt8>
        /// The key's characters, escapes resolved.
        package var decoded: [Unicode.Scalar]
        package var value: JSONTree

        package var name: String { String(String.UnicodeScalarView(decoded)) }

        package init(name: String, value: JSONTree) {
            self.key = ArraySlice(JSONString.quote(name).utf8)
            self.decoded = Array(name.unicodeScalars)
            self.value = value
        }

        init(key: ArraySlice<UInt8>, decoded: [Unicode.Scalar], value: JSONTree) {
            self.key = key
            self.decoded = decoded
            self.value = value
        }
    }

    /// Nil if `json` is not one whole JSON value.
    package init?(parsing json: String) {
        var parser = Parser(bytes: Array(json.utf8))
        guard let value = parser.parseValue() else { return nil }
        parser.skipWhitespace()
        guard parser.position == parser.bytes.count else { return nil }
        self = value
    }

    package static func literal(_ text: String) -> JSONTree { .token(ArraySlice(text.utf8)) }

    /// The same tree with every object's members in sorted key order, recursively.
    package func sorted() -> JSONTree {
        switch self {
        case .token: self
        case .array(let elements): .array(elements.map { $0.sorted() })
        case .object(let members):
            .object(members.map { Member(key: $0.key, decoded: $0.decoded, value: $0.value.sorted()) }
                .sorted { $0.decoded.lexicographicallyPrecedes($1.decoded) { $0.value < $1.value } })
        }
    }

    package var text: String {
        var out: [UInt8] = []
        write(to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    private func write(to out: inout [UInt8]) {
        switch self {
        case .token(let bytes):
            out += bytes
        case .array(let elements):
            out.append(UInt8(ascii: "["))
            for (index, element) in elements.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                element.write(to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            for (index, member) in members.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                out += member.key
                out.append(UInt8(ascii: ":"))
                member.value.write(to: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    private struct Parser {
        let bytes: [UInt8]
        var position = 0

        mutating func skipWhitespace() {
            while position < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[position]) { position += 1 }
        }

        mutating func consume(_ ascii: Unicode.Scalar) -> Bool {
            skipWhitespace()
            guard position < bytes.count, bytes[position] == UInt8(ascii: ascii) else { return false }
            position += 1
            return true
        }

        mutating func parseValue() -> JSONTree? {
            skipWhitespace()
            guard position < bytes.count else { return nil }
            switch bytes[position] {
            case UInt8(ascii: "{"): return parseObject()
            case UInt8(ascii: "["): return parseArray()
            case UInt8(ascii: "\""): return parseString().map { .token($0.raw) }
            default: return parseScalar()
            }
        }

        mutating func parseObject() -> JSONTree? {
            position += 1
            var members: [Member] = []
            if consume("}") { return .object(members) }
            repeat {
                skipWhitespace()
                guard let key = parseString(), consume(":"), let value = parseValue() else { return nil }
                members.append(Member(key: key.raw, decoded: key.decoded, value: value))
            } while consume(",")
            return consume("}") ? .object(members) : nil
        }

        mutating func parseArray() -> JSONTree? {
            position += 1
            var elements: [JSONTree] = []
            if consume("]") { return .array(elements) }
            repeat {
                guard let element = parseValue() else { return nil }
                elements.append(element)
            } while consume(",")
            return consume("]") ? .array(elements) : nil
        }

        /// A number, `true`, `false` or `null`: the bytes up to the next delimiter.
        mutating func parseScalar() -> JSONTree? {
            let start = position
            while position < bytes.count, !Array(",]} \t\n\r:".utf8).contains(bytes[position]) { position += 1 }
            return position > start ? .token(bytes[start..<position]) : nil
        }

        /// A string token as written and its decoded scalars (escapes resolved, for ordering).
        mutating func parseString() -> (raw: ArraySlice<UInt8>, decoded: [Unicode.Scalar])? {
            guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else { return nil }
            let start = position
            position += 1
            var units: [UInt16] = []
            var plain: [UInt8] = []
            func flushPlain() {
                units += String(decoding: plain, as: UTF8.self).utf16
                plain.removeAll()
            }
            while position < bytes.count {
                let byte = bytes[position]
                position += 1
                if byte == UInt8(ascii: "\"") {
                    flushPlain()
                    let decoded = Array(String(decoding: units, as: UTF16.self).unicodeScalars)
                    return (bytes[start..<position], decoded)
                }
                guard byte == UInt8(ascii: "\\") else {
                    plain.append(byte)
                    continue
                }
                guard position < bytes.count else { return nil }
                let escape = bytes[position]
                position += 1
                switch escape {
                case UInt8(ascii: "u"):
                    guard position + 4 <= bytes.count,
                          let unit = UInt16(String(decoding: bytes[position..<position + 4], as: UTF8.self), radix: 16)
                    else { return nil }
                    position += 4
                    flushPlain()
                    units.append(unit)
                case UInt8(ascii: "n"): plain.append(0x0A)
                case UInt8(ascii: "t"): plain.append(0x09)
                case UInt8(ascii: "r"): plain.append(0x0D)
                case UInt8(ascii: "b"): plain.append(0x08)
                case UInt8(ascii: "f"): plain.append(0x0C)
                default: plain.append(escape) // \" \\ \/
                }
            }
            return nil
        }
    }
}
