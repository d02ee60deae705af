// Tokens of the filter language, read one at a time so that errors come out in text order.

extension Filter {
    struct Token: Sendable {
        enum Kind: Equatable, Sendable {
            case leftParen, rightParen, minus, comparator(Comparator), word, string, end
        }

        var kind: Kind
        /// Offset of the first Unicode scalar of the token.
        var start: Int
        /// Offset just past the token.
        var end: Int
        /// A word's text or a string's decoded value; empty otherwise.
        var text: String = ""

        func isKeyword(_ keyword: String) -> Bool { kind == .word && text == keyword }

        /// Can this token start a term (an operand of AND, OR or NOT)?
        var startsTerm: Bool {
            switch kind {
            case .leftParen, .minus, .string: true
            case .word: text != "AND" && text != "OR"
            case .rightParen, .comparator, .end: false
            }
        }
    }

    struct Lexer {
        let scalars: [Unicode.Scalar]
        var position = 0

        init(_ scalars: [Unicode.Scalar]) {
            self.scalars = scalars
        }

        static func isSpace(_ scalar: Unicode.Scalar) -> Bool {
            switch scalar {
            case " ", "\t", "\n", "\r": true
            default: scalar.value > 0x7F && scalar.properties.isWhitespace
            }
        }

        /// Characters that end a bare word.
        static func isDelimiter(_ scalar: Unicode.Scalar) -> Bool {
            switch scalar {
            case "(", ")", "\"", "'", "=", "!", "<", ">", ":": true
            default: isSpace(scalar)
            }
        }

        func error(_ problem: String, at offset: Int, _ hint: String? = nil) -> FilterError {
            Filter.error(problem, at: offset, in: scalars, hint)
        }

        mutating func next() throws(FilterError) -> Token {
            while position < scalars.count, Self.isSpace(scalars[position]) { position += 1 }
            let start = position
            guard position < scalars.count else { return Token(kind: .end, start: start, end: start) }
            let scalar = scalars[position]
            let following: Unicode.Scalar? = position + 1 < scalars.count ? scalars[position + 1] : nil
            position += 1
            func token(_ kind: Token.Kind) -> Token { Token(kind: kind, start: start, end: position) }
            switch scalar {
            case "(": return token(.leftParen)
            case ")": return token(.rightParen)
            case "-": return token(.minus)
            case ":": return token(.comparator(.has))
            case "=":
                if following == "=" { throw error("'==' is not an operator", at: start, "use '='") }
                return token(.comparator(.equal))
            case "!":
                guard following == "=" else {
                    throw error("unexpected '!'", at: start, "use NOT or '-' to negate, '!=' to compare")
                }
                position += 1
                return token(.comparator(.notEqual))
            case "<", ">":
                var op: Comparator = scalar == "<" ? .less : .greater
                if following == "=" {
                    position += 1
                    op = scalar == "<" ? .lessOrEqual : .greaterOrEqual
                }
                return token(.comparator(op))
            case "\"", "'":
                return try string(quote: scalar, start: start)
            default:
                while position < scalars.count, !Self.isDelimiter(scalars[position]) { position += 1 }
                var word = token(.word)
                word.text = String(String.UnicodeScalarView(scalars[start..<position]))
                return word
            }
        }

        private mutating func string(quote: Unicode.Scalar, start: Int) throws(FilterError) -> Token {
            var value = String.UnicodeScalarView()
            while true {
                guard position < scalars.count else {
                    throw error("unterminated string starting", at: start, "close it with \(quote)")
                }
                let scalar = scalars[position]
                if scalar == quote {
                    position += 1
                    break
                }
                if scalar == "\\" {
                    guard position + 1 < scalars.count else {
                        throw error("unterminated string starting", at: start, "close it with \(quote)")
                    }
                    switch scalars[position + 1] {
                    case "\"": value.append("\"")
                    case "'": value.append("'")
                    case "\\": value.append("\\")
                    case "n": value.append("\n")
                    case "t": value.append("\t")
                    case let other:
                        throw error(
                            "invalid escape '\\\(other)'", at: position,
                            "the supported escapes are \\\" \\' \\\\ \\n \\t"
                        )
                    }
                    position += 2
                } else {
                    value.append(scalar)
                    position += 1
                }
            }
            return Token(kind: .string, start: start, end: position, text: String(value))
        }
    }

    /// An error whose message names the 1-based character column of the scalar at `offset`.
    static func error(_ problem: String, at offset: Int, in scalars: [Unicode.Scalar], _ hint: String? = nil) -> FilterError {
        let column = column(of: offset, in: scalars)
        var message = "\(problem) at column \(column)"
        if let hint { message += "; " + hint }
        return FilterError(message: message, column: column)
    }

    /// The 1-based column, in Characters (grapheme clusters), of the character that contains the
    /// scalar at `offset`; one past the last character for the end of the text.
    static func column(of offset: Int, in scalars: [Unicode.Scalar]) -> Int {
        // Fast path: ASCII other than "\r" (which joins a following "\n") is one character per scalar.
        let end = min(offset + 1, scalars.count)
        if scalars[..<end].allSatisfy({ $0.isASCII && $0 != "\r" }) { return offset + 1 }
        var column = 1
        var consumed = 0
        for character in String(String.UnicodeScalarView(scalars)) {
            consumed += character.unicodeScalars.count
            if consumed > offset { return column }
            column += 1
        }
        return column
    }

    /// A user-supplied value quoted for an error message, shortened when long.
    static func quoteForMessage(_ text: String) -> String {
        let limit = 64
        if text.unicodeScalars.count <= limit { return "'" + text + "'" }
        return "'" + String(String.UnicodeScalarView(text.unicodeScalars.prefix(limit))) + "…'"
    }
}
