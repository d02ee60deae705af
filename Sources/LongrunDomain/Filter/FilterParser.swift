// Recursive descent over the AIP-160 grammar, adapted:
//
//   filter      = [expression]
//   expression  = factor { ["AND"] factor }        (juxtaposition is an implicit AND)
//   factor      = term { "OR" term }               (OR binds tighter than AND)
//   term        = ("NOT" | "-") term | simple
//   simple      = restriction | "(" expression ")"
//   restriction = field [comparator value]         (a bare field only for booleans)
//
// Recursion happens only through parentheses and NOT / '-', each of which counts one level of
// nesting that is limited to `Filter.maximumDepth`, so the stack stays bounded on any input.
// The normalized tree's depth (AND, OR and NOT nodes) is limited to the same number, which
// guarantees that the canonical text, whose nesting never exceeds the tree's depth, parses again.

extension Filter {
    struct Parser {
        /// A parsed subtree with its depth and where its text starts.
        struct Parsed {
            var node: Node
            var depth: Int
            var start: Int
        }

        var lexer: Lexer
        var token: Token
        /// The types `metadata.<field>` and `response.<field>` are resolved in.
        let schemas: PayloadSchemas

        init(_ scalars: [Unicode.Scalar], schemas: PayloadSchemas = .wellKnown) throws(FilterError) {
            self.schemas = schemas
            lexer = Lexer(scalars)
            token = Token(kind: .end, start: 0, end: 0)
            try advance()
        }

        mutating func advance() throws(FilterError) {
            token = try lexer.next()
        }

        func error(_ problem: String, at offset: Int, _ hint: String? = nil) -> FilterError {
            lexer.error(problem, at: offset, hint)
        }

        static func describe(_ token: Token) -> String {
            switch token.kind {
            case .leftParen: "'('"
            case .rightParen: "')'"
            case .minus: "'-'"
            case .comparator(let op): "'\(op.text)'"
            case .word: token.text == "AND" || token.text == "OR" || token.text == "NOT"
                ? token.text : Filter.quoteForMessage(token.text)
            case .string: "string " + Filter.quoteForMessage(token.text)
            case .end: "end of filter"
            }
        }

        /// The whole filter; nil when it is empty.
        mutating func parseFilter() throws(FilterError) -> Node? {
            if token.kind == .end { return nil }
            let parsed = try parseExpression(nesting: 0)
            guard token.kind == .end else { throw unexpected() }
            return parsed.node
        }

        func unexpected() -> FilterError {
            switch token.kind {
            case .comparator(let op):
                error("unexpected '\(op.text)'", at: token.start, "a comparison needs a field on its left, e.g. name = \"value\"")
            case .rightParen:
                error("unbalanced ')'", at: token.start, "there is no '(' to close")
            case .word where token.text == "AND" || token.text == "OR":
                error("expected an expression before \(token.text)", at: token.start)
            default:
                error("unexpected \(Self.describe(token))", at: token.start)
            }
        }

        mutating func parseExpression(nesting: Int) throws(FilterError) -> Parsed {
            guard token.startsTerm else { throw unexpected() }
            var parts = [try parseFactor(nesting: nesting)]
            while true {
                if token.isKeyword("AND") {
                    let keyword = token
                    try advance()
                    guard token.startsTerm else {
                        throw error("expected an expression after AND", at: keyword.start, "found \(Self.describe(token))")
                    }
                } else if !token.startsTerm {
                    break
                }
                parts.append(try parseFactor(nesting: nesting))
            }
            return try junction(parts, and: true)
        }

        mutating func parseFactor(nesting: Int) throws(FilterError) -> Parsed {
            var parts = [try parseTerm(nesting: nesting)]
            while token.isKeyword("OR") {
                let keyword = token
                try advance()
                guard token.startsTerm else {
                    throw error("expected an expression after OR", at: keyword.start, "found \(Self.describe(token))")
                }
                parts.append(try parseTerm(nesting: nesting))
            }
            return try junction(parts, and: false)
        }

        /// Builds a flattened AND / OR node and checks its depth.
        func junction(_ parts: [Parsed], and: Bool) throws(FilterError) -> Parsed {
            if parts.count == 1 { return parts[0] }
            var children: [Node] = []
            var depth = 0
            for part in parts {
                let contribution: Int
                switch (part.node, and) {
                case (.and(let grandchildren), true), (.or(let grandchildren), false):
                    children += grandchildren
                    contribution = part.depth
                default:
                    children.append(part.node)
                    contribution = part.depth + 1
                }
                if contribution > Filter.maximumDepth { throw tooDeep(at: part.start) }
                depth = max(depth, contribution)
            }
            return Parsed(node: and ? .and(children) : .or(children), depth: depth, start: parts[0].start)
        }

        func tooDeep(at offset: Int) -> FilterError {
            error(
                "filter nests deeper than the maximum of \(Filter.maximumDepth) levels", at: offset,
                "parentheses, NOT, AND and OR each add a level"
            )
        }

        mutating func parseTerm(nesting: Int) throws(FilterError) -> Parsed {
            guard token.kind == .minus || token.isKeyword("NOT") else { return try parseSimple(nesting: nesting) }
            let negation = token
            let spelling = negation.kind == .minus ? "'-'" : "NOT"
            if nesting + 1 > Filter.maximumDepth { throw tooDeep(at: negation.start) }
            try advance()
            guard token.startsTerm else {
                throw error("expected an expression after \(spelling)", at: negation.start, "found \(Self.describe(token))")
            }
            let operand = try parseTerm(nesting: nesting + 1)
            if operand.depth + 1 > Filter.maximumDepth { throw tooDeep(at: negation.start) }
            return Parsed(node: .not(operand.node), depth: operand.depth + 1, start: negation.start)
        }

        mutating func parseSimple(nesting: Int) throws(FilterError) -> Parsed {
            guard token.kind == .leftParen else { return try parseRestriction() }
            let open = token
            if nesting + 1 > Filter.maximumDepth { throw tooDeep(at: open.start) }
            try advance()
            if token.kind == .end {
                throw error("unbalanced '('", at: open.start, "expected an expression and ')'")
            }
            guard token.startsTerm else {
                throw error("expected an expression after '('", at: open.start, "found \(Self.describe(token))")
            }
            var inner = try parseExpression(nesting: nesting + 1)
            switch token.kind {
            case .rightParen:
                try advance()
            case .end:
                throw error("unbalanced '('", at: open.start, "expected ')'")
            default:
                throw unexpected()
            }
            inner.start = open.start
            return inner
        }

        mutating func parseRestriction() throws(FilterError) -> Parsed {
            let subject = token
            try advance()
            guard case .comparator(let op) = token.kind else { return try bare(subject) }
            let opToken = token
            if subject.kind == .string {
                throw error(
                    "expected a field name before '\(op.text)'", at: subject.start,
                    "found \(Self.describe(subject)); filterable fields are: \(Field.listing)"
                )
            }
            if Field(text: subject.text) == nil, let side = Self.payloadSide(subject.text) {
                return try payloadRestriction(subject, side: side, opToken: opToken, op: op)
            }
            guard let field = Field(text: subject.text) else {
                throw error(
                    "unknown field \(Filter.quoteForMessage(subject.text))", at: subject.start,
                    "filterable fields are: \(Field.listing), and metadata.<field> or response.<field> of a registered message type"
                )
            }
            if field.kind == .bool && op.isOrdering {
                throw error(
                    "operator '\(op.text)' cannot be used with the boolean field \(field.text)", at: opToken.start,
                    "use = or !="
                )
            }
            try advance()
            let value = try parseValue(after: opToken)
            let test = try test(field: field, op: op, value: value)
            return Parsed(node: .restriction(Restriction(field: field, test: test)), depth: 0, start: subject.start)
        }

        /// A term that is a lone word or string: only a boolean field may stand alone.
        func bare(_ subject: Token) throws(FilterError) -> Parsed {
            if subject.kind == .word, let field = Field(text: subject.text) {
                guard field.kind == .bool else {
                    throw error(
                        "field \(field.text) needs a comparison", at: subject.start,
                        "use field = value, e.g. \(Self.example(for: field))"
                    )
                }
                let restriction = Restriction(field: field, test: .boolEquals(true))
                return Parsed(node: .restriction(restriction), depth: 0, start: subject.start)
            }
            if subject.kind == .word, ["AND", "OR", "NOT"].contains(subject.text.uppercased()) {
                throw error(
                    "\(Filter.quoteForMessage(subject.text)) is not an operator", at: subject.start,
                    "use uppercase AND/OR/NOT"
                )
            }
            let shown = subject.kind == .string ? Self.describe(subject) : Filter.quoteForMessage(subject.text)
            throw error(
                "bare value \(shown) is not supported", at: subject.start,
                "use field = value with one of the filterable fields: \(Field.listing)"
            )
        }

        /// `metadata.<path>` or `response.<path>`: a field inside the payload.
        static func payloadSide(_ text: String) -> PayloadSide? {
            if text.hasPrefix("metadata.") { return .metadata }
            if text.hasPrefix("response.") { return .response }
            return nil
        }

        static func example(for field: Field) -> String {
            switch field.kind {
            case .bool: "\(field.text) = true"
            case .string: "\(field.text) = \"operations/*\""
            case .typeURL: "\(field.text) = \"acme.v1.BuildMetadata\""
            case .timestamp: "\(field.text) > \"2026-01-01T00:00:00Z\""
            case .code: "\(field.text) = CANCELLED"
            }
        }

        struct Value {
            var text: String
            var quoted: Bool
            var start: Int
        }

        /// The literal after a comparator: a word, a quoted string, or '-' directly followed by a word.
        mutating func parseValue(after op: Token) throws(FilterError) -> Value {
            let opText = Self.describe(op)
            switch token.kind {
            case .word where !["AND", "OR", "NOT"].contains(token.text):
                let value = Value(text: token.text, quoted: false, start: token.start)
                try advance()
                return value
            case .string:
                let value = Value(text: token.text, quoted: true, start: token.start)
                try advance()
                return value
            case .minus:
                let minus = token
                try advance()
                guard token.kind == .word, token.start == minus.end else {
                    throw error("expected a value after \(opText)", at: op.start, "found '-'")
                }
                let value = Value(text: "-" + token.text, quoted: false, start: minus.start)
                try advance()
                return value
            default:
                throw error("expected a value after \(opText)", at: op.start, "found \(Self.describe(token))")
            }
        }
    }
}
