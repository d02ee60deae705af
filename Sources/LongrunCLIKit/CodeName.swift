import LongrunDomain

/// How the tools name a `google.rpc.Code`: `NOT_FOUND`, or `CODE_<n>` for a code outside the
/// standard table (a `google.rpc.Status` may carry any number). The table is the domain's.
enum CodeName {
    static func of(_ code: Int32) -> String {
        StatusCode(rawValue: code)?.name ?? "CODE_\(code)"
    }

    /// `CANCELLED`'s number: an operation with this error was cancelled rather than failed.
    static let cancelled = StatusCode.cancelled.rawValue
}
