public import GRPCCore
import LongrunDefaults

/// A `google.rpc.Code`: the code of an RPC failure or of an operation's `error`.
///
/// Any `Int32` is representable (a `google.rpc.Status` may carry codes outside the standard
/// table); the seventeen standard codes have names (``name``) and constants (``notFound``, ...).
public struct StatusCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: Int32

    public init(rawValue: Int32) {
        self.rawValue = rawValue
    }

    public static let ok = StatusCode(rawValue: 0)
    public static let cancelled = StatusCode(rawValue: 1)
    public static let unknown = StatusCode(rawValue: 2)
    public static let invalidArgument = StatusCode(rawValue: 3)
    public static let deadlineExceeded = StatusCode(rawValue: 4)
    public static let notFound = StatusCode(rawValue: 5)
    public static let alreadyExists = StatusCode(rawValue: 6)
    public static let permissionDenied = StatusCode(rawValue: 7)
    public static let resourceExhausted = StatusCode(rawValue: 8)
    public static let failedPrecondition = StatusCode(rawValue: 9)
    public static let aborted = StatusCode(rawValue: 10)
    public static let outOfRange = StatusCode(rawValue: 11)
    public static let unimplemented = StatusCode(rawValue: 12)
    public static let `internal` = StatusCode(rawValue: 13)
    public static let unavailable = StatusCode(rawValue: 14)
    public static let dataLoss = StatusCode(rawValue: 15)
    public static let unauthenticated = StatusCode(rawValue: 16)

    /// The canonical names, indexed by code.
    static let names = [
        "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
        "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED",
        "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
    ]

    /// The canonical name (`NOT_FOUND`), or nil for a non-standard code.
    public var name: String? {
        rawValue >= 0 && Int(rawValue) < Self.names.count ? Self.names[Int(rawValue)] : nil
    }

    /// The name, or `CODE_<n>` for a non-standard code.
    public var description: String {
        name ?? "CODE_\(rawValue)"
    }

    /// Parses a code given by number (`5`) or by name (`NOT_FOUND`, case-insensitive, `-` for `_`,
    /// `CANCELED` accepted for `CANCELLED`). Returns nil for anything else, including negative numbers.
    public init?(parsing text: String) {
        let trimmed = text.trimmingWhitespace()
        if let number = Int32(trimmed) {
            guard number >= 0 else { return nil }
            self.init(rawValue: number)
            return
        }
        var name = trimmed.uppercased().replacingAll("-", with: "_")
        if name == "CANCELED" { name = "CANCELLED" }
        if name.hasPrefix("CODE_"), let number = Int32(name.dropFirst(5)), number >= 0 {
            self.init(rawValue: number)
            return
        }
        guard let index = Self.names.firstIndex(of: name) else { return nil }
        self.init(rawValue: Int32(index))
    }

    /// The code of a gRPC error.
    public init(_ code: RPCError.Code) {
        self.init(rawValue: Int32(code.rawValue))
    }
}

extension String {
    func replacingAll(_ target: Character, with replacement: Character) -> String {
        String(map { $0 == target ? replacement : $0 })
    }
}
