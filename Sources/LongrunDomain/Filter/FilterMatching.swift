// Evaluation of the compiled tree against a record. No allocation, no parsing: strings are
// compared as UTF-8 bytes in place, type names are found by scanning for the URL's last '/'.

extension Filter.Node {
    func matches(_ record: FilterRecord) -> Bool {
        switch self {
        case .and(let children):
            for child in children where !child.matches(record) { return false }
            return true
        case .or(let children):
            for child in children where child.matches(record) { return true }
            return false
        case .not(let child):
            return !child.matches(record)
        case .restriction(let restriction):
            return restriction.matches(record)
        case .payload(let restriction):
            return restriction.matches(record)
        }
    }
}

extension Filter.Restriction {
    @inline(__always)
    func matches(_ record: FilterRecord) -> Bool {
        switch field {
        case .done: return test.matches(bool: record.done)
        case .cancelRequested: return test.matches(bool: record.cancelRequested)
        case .createTime: return test.matches(time: record.createTime.nanosecondsSinceEpoch)
        case .updateTime: return test.matches(time: record.updateTime.nanosecondsSinceEpoch)
        case .endTime:
            guard let end = record.endTime else { return test.whenAbsent }
            return test.matches(time: end.nanosecondsSinceEpoch)
        case .errorCode:
            guard let code = record.errorCode else { return test.whenAbsent }
            return test.matches(code: code)
        case .name: return test.matches(string: record.name, typeURL: false)
        case .metadataType:
            guard let url = record.metadataType else { return test.whenAbsent }
            return test.matches(string: url, typeURL: true)
        case .responseType:
            guard let url = record.responseType else { return test.whenAbsent }
            return test.matches(string: url, typeURL: true)
        }
    }
}

extension Filter.Test {
    @inline(__always)
    func matches(bool value: Bool) -> Bool {
        switch self {
        case .present: true
        case .boolEquals(let expected): value == expected
        case .time, .code, .match, .order: false
        }
    }

    @inline(__always)
    func matches(time value: Int64) -> Bool {
        switch self {
        case .present: true
        case .time(let op, let literal): op.holds(value, literal)
        case .boolEquals, .code, .match, .order: false
        }
    }

    @inline(__always)
    func matches(code value: Int32) -> Bool {
        switch self {
        case .present: true
        case .code(let op, let literal): op.holds(value, literal)
        case .boolEquals, .time, .match, .order: false
        }
    }

    func matches(string value: String, typeURL: Bool) -> Bool {
        switch self {
        case .present:
            return true
        case .match(let pattern, let negated):
            return Filter.withUTF8(value) { bytes in
                let subject = typeURL && !pattern.fullURL ? Filter.typeName(bytes) : bytes
                return pattern.matches(subject) != negated
            }
        case .order(let op, let pattern):
            return Filter.withUTF8(value) { bytes in
                let subject = typeURL && !pattern.fullURL ? Filter.typeName(bytes) : bytes
                return op.holds(ordering: Filter.compare(subject, pattern.bytes))
            }
        case .boolEquals, .time, .code:
            return false
        }
    }
}

extension Filter.Pattern {
    @inline(__always)
    func matches(_ subject: UnsafeBufferPointer<UInt8>) -> Bool {
        bytes.withUnsafeBufferPointer { literal in
            switch anchor {
            case .any: true
            case .exact: subject.count == literal.count && Filter.equal(subject, 0, literal)
            case .prefix: subject.count >= literal.count && Filter.equal(subject, 0, literal)
            case .suffix: subject.count >= literal.count && Filter.equal(subject, subject.count - literal.count, literal)
            case .contains: Filter.contains(subject, literal)
            }
        }
    }
}

extension Filter {
    /// Runs `body` over the string's UTF-8 bytes in place (copying only for non-contiguous, bridged strings).
    @inline(__always)
    static func withUTF8<R>(_ string: String, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        if let result = string.utf8.withContiguousStorageIfAvailable(body) { return result }
        return Array(string.utf8).withUnsafeBufferPointer(body)
    }

    /// The part of a type URL after its last '/' (the whole URL when it has none).
    @inline(__always)
    static func typeName(_ url: UnsafeBufferPointer<UInt8>) -> UnsafeBufferPointer<UInt8> {
        var index = url.count
        while index > 0 {
            if url[index - 1] == UInt8(ascii: "/") {
                return UnsafeBufferPointer(rebasing: url[index...])
            }
            index -= 1
        }
        return url
    }

    /// Whether `subject[offset ..< offset + literal.count]` equals `literal` (the range must be valid).
    @inline(__always)
    static func equal(_ subject: UnsafeBufferPointer<UInt8>, _ offset: Int, _ literal: UnsafeBufferPointer<UInt8>) -> Bool {
        var index = 0
        while index < literal.count {
            if subject[offset + index] != literal[index] { return false }
            index += 1
        }
        return true
    }

    static func contains(_ subject: UnsafeBufferPointer<UInt8>, _ literal: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let first = literal.first else { return true }
        guard subject.count >= literal.count else { return false }
        var offset = 0
        let last = subject.count - literal.count
        while offset <= last {
            if subject[offset] == first && equal(subject, offset, literal) { return true }
            offset += 1
        }
        return false
    }

    /// Three-way lexicographic comparison of UTF-8 bytes (the same order as code points).
    static func compare(_ subject: UnsafeBufferPointer<UInt8>, _ literal: [UInt8]) -> Int {
        literal.withUnsafeBufferPointer { literal in
            let common = min(subject.count, literal.count)
            var index = 0
            while index < common {
                let a = subject[index], b = literal[index]
                if a != b { return a < b ? -1 : 1 }
                index += 1
            }
            return subject.count == literal.count ? 0 : (subject.count < literal.count ? -1 : 1)
        }
    }
}
