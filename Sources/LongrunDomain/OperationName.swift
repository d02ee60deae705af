/// The collection an operation lives in: the root `operations`, or `{parent}/operations` where
/// `{parent}` is `collection/id` pairs such as `tenants/acme`.
public struct CollectionName: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// `""` for the root collection, else e.g. `tenants/acme`.
    public let parent: String

    public static let root = CollectionName(validatedParent: "")

    init(validatedParent: String) {
        self.parent = validatedParent
    }

    /// Parses a parent (`""`, `tenants/acme`) as given to CreateOperation.
    public init(parent: String) throws(DomainError) {
        if !parent.isEmpty { try OperationName.validateParent(parent, whole: parent) }
        self.parent = parent
    }

    /// Parses the `name` of a ListOperations request: `""` or `operations` → the root collection;
    /// `{parent}` or `{parent}/operations` → that parent's collection.
    public init(listName: String) throws(DomainError) {
        if listName.isEmpty || listName == "operations" {
            self.parent = ""
            return
        }
        guard listName.utf8.count <= OperationName.maximumLength else {
            throw OperationName.invalid(listName, "is longer than \(OperationName.maximumLength) bytes")
        }
        if listName.hasSuffix("/operations") {
            let parent = String(listName.dropLast("/operations".count))
            do throws(DomainError) {
                try OperationName.validateParent(parent, whole: listName)
                self.parent = parent
                return
            } catch {
                // `{parent}` whose last id is `operations`, such as `tenants/operations`: the two
                // readings differ by one segment, so at most one of them is collection/id pairs.
                guard (try? OperationName.validateParent(listName, whole: listName)) != nil else { throw error }
            }
        }
        try OperationName.validateParent(listName, whole: listName)
        self.parent = listName
    }

    public var description: String { parent.isEmpty ? "operations" : parent + "/operations" }

    public static func < (lhs: CollectionName, rhs: CollectionName) -> Bool { lhs.parent < rhs.parent }
}

/// An operation's resource name (AIP-122): `operations/{id}` or `{parent}/operations/{id}`.
public struct OperationName: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// Longest accepted name in bytes. Names are LMDB keys (at most 511 bytes with our suffixes).
    public static let maximumLength = 256
    /// Longest accepted `request_id`.
    public static let maximumRequestIDLength = 128

    public let collection: CollectionName
    public let description: String

    /// The operation id: the part after the last `/`. Built on each use (error messages and tools
    /// read it, the hot paths never do), so that a name holds one string fewer: decoding a record
    /// then allocates one string for its name, not two.
    public var id: String {
        guard let slash = description.utf8.lastIndex(of: UInt8(ascii: "/")) else { return description }
        return String(description[description.utf8.index(after: slash)...])
    }

    /// Builds a name from a collection and a caller-chosen or generated id, validating the id.
    public init(collection: CollectionName, id: String) throws(DomainError) {
        guard Self.isValidID(id) else {
            throw DomainError(.invalidArgument, reason: .invalidOperationID,
                              "operation id '\(id)' must match ^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$ (lowercase letters, digits and hyphens, starting with a letter, at most 63 characters)")
        }
        let text = collection.parent.isEmpty ? "operations/" + id : collection.parent + "/operations/" + id
        guard text.utf8.count <= Self.maximumLength else {
            throw Self.invalid(text, "is longer than \(Self.maximumLength) bytes")
        }
        self.collection = collection
        self.description = text
    }

    /// Parses a full name such as `operations/build-42` or `tenants/acme/operations/build-42`.
    public init(parsing text: String) throws(DomainError) {
        // Every valid name is ASCII, checked byte by byte without building a string; a name the
        // bytes refuse is parsed again below, only to say why.
        let parentLength = text.utf8.withContiguousStorageIfAvailable { Self.validatedParentLength(UnsafeRawBufferPointer($0)) }
        if let parentLength = parentLength ?? nil {
            self.init(validated: text, parentLength: parentLength)
            return
        }
        try self.init(explaining: text)
    }

    /// ``init(parsing:)-(String)`` for a name stored as UTF-8 (a record's, a key's): the bytes are
    /// checked before the one `String` is built.
    public init(parsing bytes: UnsafeRawBufferPointer) throws(DomainError) {
        guard let parentLength = Self.validatedParentLength(bytes) else {
            try self.init(explaining: String(decoding: bytes, as: UTF8.self))
            return
        }
        self.init(validated: String(decoding: bytes, as: UTF8.self), parentLength: parentLength)
    }

    /// A name the store wrote, read back from a record whose checksum was just verified: only its
    /// shape is checked (to find its collection), not each rule of a name, as in
    /// ``parent(ofStored:)``. The store checked every rule when it wrote the name, the checksum
    /// says these are the bytes it wrote, and the scrub checks every rule again. Nil when the bytes
    /// have neither shape; ``init(parsing:)-(UnsafeRawBufferPointer)`` then says why.
    public init?(stored bytes: UnsafeRawBufferPointer) {
        guard bytes.count <= Self.maximumLength, let (parentLength, _) = Self.shape(of: bytes) else { return nil }
        self.init(validated: String(decoding: bytes, as: UTF8.self), parentLength: parentLength)
    }

    /// The rules of ``init(parsing:)-(String)`` applied to strings and substrings, step by step: the
    /// reading that says why a name is refused. It accepts exactly what ``validatedParentLength(_:)``
    /// accepts (a test in FuzzPropertyTests compares them), so a name reaches it only to be refused.
    init(explaining text: String) throws(DomainError) {
        guard text.utf8.count <= Self.maximumLength else {
            throw Self.invalid(text, "is longer than \(Self.maximumLength) bytes")
        }
        guard let lastSlash = text.utf8.lastIndex(of: UInt8(ascii: "/")) else {
            throw Self.invalid(text, "must be operations/{id} or {parent}/operations/{id}")
        }
        let head = String(text[..<lastSlash])
        let id = String(text[text.utf8.index(after: lastSlash)...])
        let parent: String
        if head == "operations" {
            parent = ""
        } else if head.hasSuffix("/operations") {
            parent = String(head.dropLast("/operations".count))
            try Self.validateParent(parent, whole: text)
        } else {
            throw Self.invalid(text, "must be operations/{id} or {parent}/operations/{id}")
        }
        guard Self.isValidID(id) else {
            throw Self.invalid(text, "has an invalid operation id '\(id.prefix(80))': ids match ^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$")
        }
        try self.init(collection: CollectionName(validatedParent: parent), id: id)
    }

    public static func < (lhs: OperationName, rhs: OperationName) -> Bool { lhs.description < rhs.description }

    // The full name determines the collection and the id: compare and hash it alone.
    public static func == (lhs: OperationName, rhs: OperationName) -> Bool { lhs.description == rhs.description }
    public func hash(into hasher: inout Hasher) { hasher.combine(description) }

    /// The parent of a name the store wrote (a checksummed record's), as the first of its UTF-8
    /// bytes (empty for the root collection): what precedes `operations/` and the id. Only the
    /// name's shape is checked, not each rule of a name (the store checked those when it wrote
    /// it), so that a scan can ask it of every record it passes; nil when the shape is not one.
    public static func parent(ofStored bytes: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        shape(of: bytes).map { UnsafeRawBufferPointer(rebasing: bytes[..<$0.parentLength]) }
    }

    /// The shape of a name, `operations/{id}` or `{parent}/operations/{id}` with a parent that is
    /// not empty: the length of its parent (0 for the root) and where its id starts; nil when the
    /// bytes have neither shape. No segment's own rule is checked.
    private static func shape(of bytes: UnsafeRawBufferPointer) -> (parentLength: Int, idStart: Int)? {
        let segment = operationsSegment.utf8CodeUnitCount
        guard let lastSlash = bytes.lastIndex(of: UInt8(ascii: "/")), lastSlash >= segment,
              isOperations(bytes[(lastSlash - segment)..<lastSlash])
        else { return nil }
        let headStart = lastSlash - segment
        if headStart == 0 { return (0, lastSlash + 1) }
        guard headStart >= 2, bytes[headStart - 1] == UInt8(ascii: "/") else { return nil }
        return (headStart - 1, lastSlash + 1)
    }

    /// A name whose bytes ``validatedParentLength(_:)`` accepted, its parent being its first
    /// `parentLength` bytes.
    private init(validated description: String, parentLength: Int) {
        if parentLength == 0 {
            self.collection = .root
        } else {
            let end = description.utf8.index(description.startIndex, offsetBy: parentLength)
            self.collection = CollectionName(validatedParent: String(description[..<end]))
        }
        self.description = description
    }

    private static let operationsSegment: StaticString = "operations"

    /// Whether `bytes` are a valid name, all the rules of ``init(explaining:)`` checked on bytes;
    /// the length of its parent if so (0 for the root collection), nil if not.
    static func validatedParentLength(_ bytes: UnsafeRawBufferPointer) -> Int? {
        guard bytes.count <= maximumLength, let (parentLength, idStart) = shape(of: bytes),
              isValidID(bytes[idStart...])
        else { return nil }
        return parentLength == 0 || isValidParent(bytes[..<parentLength]) ? parentLength : nil
    }

    /// `validateParent` on bytes, without saying why.
    private static func isValidParent(_ parent: Slice<UnsafeRawBufferPointer>) -> Bool {
        var segments = 0
        var start = parent.startIndex
        while true {
            let end = parent[start...].firstIndex(of: UInt8(ascii: "/")) ?? parent.endIndex
            let segment = parent[start..<end]
            if segments % 2 == 0 {
                guard isValidCollection(segment), !isOperations(segment) else { return false }
            } else {
                guard isValidID(segment, digitFirst: true) else { return false }
            }
            segments += 1
            guard end < parent.endIndex else { break }
            start = end + 1
        }
        return segments >= 2 && segments % 2 == 0
    }

    /// Whether `segment` is `operations`: its ten bytes compared as two words.
    private static func isOperations(_ segment: Slice<UnsafeRawBufferPointer>) -> Bool {
        guard segment.count == operationsSegment.utf8CodeUnitCount else { return false }
        let bytes = UnsafeRawBufferPointer(rebasing: segment)
        return bytes.loadUnaligned(as: UInt64.self) == operationsHead && bytes.loadUnaligned(fromByteOffset: 8, as: UInt16.self) == operationsTail
    }

    /// `operatio` and `ns`, as ``isOperations(_:)`` loads them.
    private static let operationsHead = UInt64(littleEndian: 0x6F69_7461_7265_706F)
    private static let operationsTail = UInt16(littleEndian: 0x736E)

    /// `^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$`, checked on bytes without regex machinery.
    public static func isValidID(_ id: String) -> Bool { isValidID(id.utf8) }

    /// An operation id, or with `digitFirst` an id of a parent (which may start with a digit).
    private static func isValidID(_ bytes: some Collection<UInt8>, digitFirst: Bool = false) -> Bool {
        guard let first = bytes.first, bytes.count <= 63, isLower(first) || (digitFirst && isDigit(first)) else { return false }
        var last = first
        for byte in bytes {
            guard isIDByte(byte) else { return false }
            last = byte
        }
        return isLower(last) || isDigit(last)
    }

    /// Whether `byte` may be in an id (`a`–`z`, `0`–`9`, `-`), looked up in a set of bits rather
    /// than tested class by class: ids mix letters and digits in no order (those
    /// ``OperationIDGenerator`` makes do), and a branch on the class went the wrong way on about
    /// half of their bytes (W3 in BENCHMARKS.md, names in no order).
    @inline(__always) private static func isIDByte(_ byte: UInt8) -> Bool {
        // Bytes 0–63: `-` (45) and `0`–`9` (48–57); bytes 64–127: `a`–`z` (97–122, bits 33–58).
        let low: UInt64 = 1 << 45 | 0x3FF << 48
        let high: UInt64 = 0x3FF_FFFF << 33
        // All ones where the byte selects `high`, or is ASCII; in arithmetic, since a choice
        // written as a condition compiles to the same branch.
        let isHigh = 0 &- UInt64(byte &>> 6 & 1)
        let isASCII = 0 &- UInt64(1 &- byte &>> 7)
        let set = (high & isHigh | low & ~isHigh) & isASCII
        return (set &>> UInt64(byte & 63)) & 1 != 0
    }

    /// A parent is one or more `collection/id` pairs; collections are lowerCamelCase identifiers and
    /// ids follow the operation id rule, except that they may start with a digit. `operations` may
    /// not be a parent collection, so that a name never reads two ways.
    static func validateParent(_ parent: String, whole: String) throws(DomainError) {
        let segments = parent.split(separator: "/", omittingEmptySubsequences: false)
        guard segments.count >= 2, segments.count % 2 == 0 else {
            throw invalid(whole, "its parent '\(parent)' must be collection/id pairs such as tenants/acme")
        }
        for index in stride(from: 0, to: segments.count, by: 2) {
            let collection = segments[index]
            let id = segments[index + 1]
            guard isValidCollection(collection.utf8) else {
                throw invalid(whole, "'\(collection)' is not a valid collection (lowerCamelCase letters and digits)")
            }
            guard collection != "operations" else {
                throw invalid(whole, "an operation cannot be a parent; list a collection such as operations or tenants/acme/operations")
            }
            guard isValidID(id.utf8, digitFirst: true) else {
                throw invalid(whole, "'\(id)' is not a valid id (lowercase letters, digits and hyphens, at most 63)")
            }
        }
    }

    static func invalid(_ name: String, _ why: String) -> DomainError {
        DomainError(.invalidArgument, reason: .invalidName, "name '\(name.prefix(300))' \(why)")
    }

    private static func isValidCollection(_ bytes: some Collection<UInt8>) -> Bool {
        guard let first = bytes.first, isLower(first), bytes.count <= 63 else { return false }
        return bytes.allSatisfy { isLower($0) || isDigit($0) || ($0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z")) }
    }

    @inline(__always) private static func isLower(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z") }
    @inline(__always) private static func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }
}

/// Generates operation ids that are unique and sort in creation order: `o` + 10 base32 characters of
/// milliseconds since the epoch + 6 of a counter that starts at a random value each millisecond, e.g.
/// `o01jd4x8k2m7c9gq1`. Digits sort before letters, so text order is time order.
public struct OperationIDGenerator: Sendable {
    private static let alphabet = Array("0123456789abcdefghjkmnpqrstvwxyz".utf8)
    private var lastMillisecond: Int64 = 0
    private var counter: UInt32 = 0

    public init() {}

    /// The next id, given the current time and a random number. Never goes backwards within one
    /// generator, even if the clock does: it keeps the last millisecond and bumps the counter.
    public mutating func next(now: Timestamp, random: UInt32) -> String {
        let millisecond = max(now.nanosecondsSinceEpoch / 1_000_000, 0)
        if millisecond > lastMillisecond {
            lastMillisecond = millisecond
            counter = random & 0x1FFF_FFFF  // leave headroom below 2^30 for increments
        } else {
            counter &+= 1
            if counter >= 1 << 30 {  // a billion ids in one millisecond: borrow the next one
                lastMillisecond += 1
                counter = 0
            }
        }
        var bytes = [UInt8](repeating: UInt8(ascii: "o"), count: 17)
        var time = UInt64(lastMillisecond)
        for index in stride(from: 10, through: 1, by: -1) {
            bytes[index] = Self.alphabet[Int(time & 31)]
            time >>= 5
        }
        var count = counter
        for index in stride(from: 16, through: 11, by: -1) {
            bytes[index] = Self.alphabet[Int(count & 31)]
            count >>= 5
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
