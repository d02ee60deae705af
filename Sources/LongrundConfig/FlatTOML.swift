/// One `key = value` line of a config file.
public struct ConfigEntry: Equatable, Sendable {
    public var key: String
    public var value: ConfigValue
    public var line: Int
}

/// The TOML that longrund's config file uses: top-level `key = value` pairs whose values are
/// strings, integers or booleans, with comments. Every file it accepts is valid TOML and means the
/// same thing; what TOML has beyond that (tables, arrays, floats, dates, multi-line strings) is
/// refused with the line, since no longrund option could take it.
///
/// Why not a full TOML library: TOMLKit (toml++) reports positions only for syntax errors, so an
/// unknown or mistyped key could not be given its line, and it compiles half a megabyte of C++.
/// This keeps every error at its line and the daemon free of C++.
public enum FlatTOML {
    /// The entries in file order. `path` only words the errors.
    public static func parse(_ text: String, path: String) throws(ConfigError) -> [ConfigEntry] {
        var entries: [ConfigEntry] = []
        var seen: [String: Int] = [:]
        var number = 0
        // By scalars: as Characters, "\r\n" is one grapheme and would not split on "\n".
        for rawLine in text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false) {
            number += 1
            var line = Array(rawLine)
            if line.last == "\r" { line.removeLast() }
            func fail(_ message: String) -> ConfigError { ConfigError("config file \(path) line \(number): \(message)") }
            var scanner = Scanner(line)
            scanner.skipSpaces()
            if scanner.atEnd || scanner.peek == "#" { continue }
            if scanner.peek == "[" {
                throw fail("tables ([...]) are not used: every longrund key is top-level")
            }
            let key: String
            do { key = try scanner.key() } catch { throw fail(error.message) }
            scanner.skipSpaces()
            if scanner.peek == "." { throw fail("\(key): dotted keys are not used: every longrund key is top-level") }
            guard scanner.peek == "=" else { throw fail("\(key): expected = after the key") }
            scanner.advance()
            scanner.skipSpaces()
            let value: ConfigValue
            do { value = try scanner.value() } catch { throw fail("\(key): \(error.message)") }
            scanner.skipSpaces()
            if !scanner.atEnd && scanner.peek != "#" { throw fail("\(key): unexpected text after the value") }
            if let first = seen[key] { throw fail("\(key): set twice (first on line \(first))") }
            seen[key] = number
            entries.append(ConfigEntry(key: key, value: value, line: number))
        }
        return entries
    }
}

/// A cursor over one line's scalars.
struct Scanner {
    struct Failure: Error { var message: String }

    let scalars: [Unicode.Scalar]
    var index = 0
    init(_ scalars: [Unicode.Scalar]) { self.scalars = scalars }

    var atEnd: Bool { index >= scalars.count }
    var peek: Unicode.Scalar? { atEnd ? nil : scalars[index] }
    mutating func advance() { index += 1 }
    mutating func skipSpaces() { while let c = peek, c == " " || c == "\t" { advance() } }

    private static func isBare(_ c: Unicode.Scalar) -> Bool {
        ("a"..."z").contains(c) || ("A"..."Z").contains(c) || ("0"..."9").contains(c) || c == "-" || c == "_"
    }

    mutating func key() throws(Failure) -> String {
        if peek == "\"" || peek == "'" {
            guard case .string(let text) = try value() else { throw Failure(message: "expected a key") }
            return text
        }
        var text = ""
        while let c = peek, Self.isBare(c) { text.unicodeScalars.append(c); advance() }
        guard !text.isEmpty else { throw Failure(message: "expected a key (letters, digits, - and _) before =") }
        return text
    }

    mutating func value() throws(Failure) -> ConfigValue {
        guard let first = peek else { throw Failure(message: "missing value after =") }
        switch first {
        case "\"", "'":
            if index + 2 < scalars.count, scalars[index + 1] == first, scalars[index + 2] == first {
                throw Failure(message: "multi-line strings are not used: write the value on one line")
            }
            return .string(first == "\"" ? try basicString() : try literalString())
        case "[": throw Failure(message: "expected a string, an integer or a boolean, found an array")
        case "{": throw Failure(message: "expected a string, an integer or a boolean, found an inline table")
        default:
            var word = ""
            while let c = peek, c != " ", c != "\t", c != "#" { word.unicodeScalars.append(c); advance() }
            if word == "true" { return .boolean(true) }
            if word == "false" { return .boolean(false) }
            if let number = Self.integer(word) { return .integer(number) }
            throw Failure(message: "not a TOML string, integer or boolean: \(word) (quote strings: \"\(word)\")")
        }
    }

    /// TOML integers: decimal without leading zeros, 0x, 0o, 0b; underscores between digits.
    static func integer(_ word: String) -> Int64? {
        var text = Substring(word)
        var negative = false
        if let sign = text.first, sign == "+" || sign == "-" {
            negative = sign == "-"
            text = text.dropFirst()
        }
        var radix = 10
        if text.count > 2, text.hasPrefix("0x") || text.hasPrefix("0o") || text.hasPrefix("0b") {
            if word.first == "+" || word.first == "-" { return nil }
            radix = text.hasPrefix("0x") ? 16 : text.hasPrefix("0o") ? 8 : 2
            text = text.dropFirst(2)
        } else if text.count > 1, text.first == "0" {
            return nil
        }
        guard let firstDigit = text.first, let lastDigit = text.last, firstDigit != "_", lastDigit != "_", !text.contains("__") else { return nil }
        guard let magnitude = UInt64(String(text.filter { $0 != "_" }), radix: radix) else { return nil }
        if negative { return magnitude <= UInt64(Int64.max) + 1 ? Int64(truncatingIfNeeded: 0 &- magnitude) : nil }
        return magnitude <= UInt64(Int64.max) ? Int64(magnitude) : nil
    }

    mutating func literalString() throws(Failure) -> String {
        advance()
        var text = ""
        while let c = peek {
            advance()
            if c == "'" { return text }
            if c.value < 0x20 && c != "\t" { throw Failure(message: "control character in a string") }
            text.unicodeScalars.append(c)
        }
        throw Failure(message: "unterminated string")
    }

    mutating func basicString() throws(Failure) -> String {
        advance()
        var text = ""
        while let c = peek {
            advance()
            switch c {
            case "\"": return text
            case "\\":
                guard let escaped = peek else { throw Failure(message: "unterminated string") }
                advance()
                switch escaped {
                case "b": text += "\u{08}"
                case "t": text += "\t"
                case "n": text += "\n"
                case "f": text += "\u{0C}"
                case "r": text += "\r"
                case "e": text += "\u{1B}"
                case "\"": text += "\""
                case "\\": text += "\\"
                case "u", "U":
                    let count = escaped == "u" ? 4 : 8
                    guard index + count <= scalars.count else { throw Failure(message: "short \\\(escaped) escape") }
                    var hex = ""
                    hex.unicodeScalars.append(contentsOf: scalars[index..<index + count])
                    index += count
                    guard let code = UInt32(hex, radix: 16), let scalar = Unicode.Scalar(code) else {
                        throw Failure(message: "invalid \\\(escaped)\(hex) escape")
                    }
                    text.unicodeScalars.append(scalar)
                default: throw Failure(message: "invalid escape \\\(escaped)")
                }
            default:
                if c.value < 0x20 && c != "\t" || c.value == 0x7F { throw Failure(message: "control character in a string") }
                text.unicodeScalars.append(c)
            }
        }
        throw Failure(message: "unterminated string")
    }
}
