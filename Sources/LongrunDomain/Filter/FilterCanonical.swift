// Canonical text and static analysis of the normalized tree.

extension Filter.Node {
    /// Fully parenthesized text: every AND or OR below the top level is in parentheses,
    /// `NOT` is spelled out, literals are canonical (double quotes, UTC timestamps, numeric codes).
    /// Parsing it gives back the same tree, and its parenthesis/NOT nesting never exceeds the tree's depth.
    func write(to out: inout String) {
        switch self {
        case .and(let children):
            write(children, separator: " AND ", to: &out)
        case .or(let children):
            write(children, separator: " OR ", to: &out)
        case .not(let child):
            out += "NOT "
            child.writeOperand(to: &out)
        case .restriction(let restriction):
            restriction.write(to: &out)
        case .payload(let restriction):
            restriction.write(to: &out)
        }
    }

    private func write(_ children: [Filter.Node], separator: String, to out: inout String) {
        for (index, child) in children.enumerated() {
            if index > 0 { out += separator }
            child.writeOperand(to: &out)
        }
    }

    private func writeOperand(to out: inout String) {
        if isJunction {
            out += "("
            write(to: &out)
            out += ")"
        } else {
            write(to: &out)
        }
    }

    /// True when no record with `done == true` matches this node (it implies `done == false`). Conservative.
    var excludesDone: Bool {
        switch self {
        case .and(let children): children.contains { $0.excludesDone }
        case .or(let children): children.allSatisfy { $0.excludesDone }
        case .not(let child): child.coversDone
        case .restriction(let restriction): restriction.field == .done && restriction.test == .boolEquals(false)
        case .payload: false
        }
    }

    /// True when every record with `done == true` matches this node (`done == true` implies it). Conservative.
    var coversDone: Bool {
        switch self {
        case .and(let children): children.allSatisfy { $0.coversDone }
        case .or(let children): children.contains { $0.coversDone }
        case .not(let child): child.excludesDone
        case .restriction(let restriction):
            restriction.field == .done && (restriction.test == .boolEquals(true) || restriction.test == .present)
        case .payload: false
        }
    }
}

extension Filter.Restriction {
    func write(to out: inout String) {
        let field = field.text
        switch test {
        case .present:
            out += field + ":*"
        case .boolEquals(let value):
            out += field + " = " + (value ? "true" : "false")
        case .time(let op, let nanoseconds):
            out += field + " " + op.text + " "
            Filter.writeQuoted(RFC3339.format(Timestamp(nanosecondsSinceEpoch: nanoseconds)), to: &out)
        case .code(let op, let code):
            out += field + " " + op.text + " " + String(code)
        case .match(let pattern, let negated):
            out += field + (negated ? " != " : " = ")
            Filter.writeQuoted(pattern.text, to: &out)
        case .order(let op, let pattern):
            out += field + " " + op.text + " "
            Filter.writeQuoted(pattern.text, to: &out)
        }
    }
}

extension Filter {
    /// A double-quoted string literal with `"`, `\`, newline and tab escaped.
    static func writeQuoted(_ value: String, to out: inout String) {
        out += "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }
}
