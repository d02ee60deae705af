// Typing of restrictions: the literal is converted once, at parse time, for the field's type.

extension Filter.Parser {
    func test(field: Filter.Field, op: Filter.Comparator, value: Value) throws(FilterError) -> Filter.Test {
        if op == .has && value.text == "*" { return .present }
        let shown = Filter.quoteForMessage(value.text)
        switch field.kind {
        case .bool:
            guard !value.quoted, value.text == "true" || value.text == "false" else {
                throw error("invalid value \(shown) for \(field.text)", at: value.start, "expected true or false (without quotes)")
            }
            let literal = value.text == "true"
            return .boolEquals(op == .notEqual ? !literal : literal)

        case .timestamp:
            switch Filter.parseTimestamp(value.text) {
            case .success(let nanoseconds):
                return .time(op.normalized, nanoseconds)
            case .failure(.outOfRange):
                throw error(
                    "timestamp \(shown) for \(field.text) is out of range", at: value.start,
                    "supported are 1677-09-21T00:12:44.145224191Z through 2262-04-11T23:47:16.854775807Z"
                )
            case .failure(.tooManyFractionDigits):
                throw error(
                    "invalid timestamp \(shown) for \(field.text)", at: value.start,
                    "at most 9 fractional digits (nanoseconds) are supported"
                )
            case .failure(.invalid):
                throw error(
                    "invalid timestamp \(shown) for \(field.text)", at: value.start,
                    "expected an RFC 3339 timestamp in quotes, e.g. \"2026-01-01T00:00:00Z\" or \"2026-01-01T01:00:00+01:00\""
                )
            }

        case .code:
            guard let code = Filter.parseCode(value.text) else {
                throw error(
                    "invalid value \(shown) for \(field.text)", at: value.start,
                    "expected a 32-bit integer or a status code name such as CANCELLED or DEADLINE_EXCEEDED"
                )
            }
            return .code(op.normalized, code)

        case .string, .typeURL:
            if op.isOrdering { return .order(op, Filter.Pattern(literal: value.text, field: field)) }
            let pattern = Filter.Pattern(wildcard: value.text, field: field)
            let negated = op == .notEqual
            if pattern.anchor == .any && !negated { return .present }
            return .match(pattern, negated: negated)
        }
    }
}
