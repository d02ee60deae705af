import Foundation
import NIOHTTP1

/// The HTTP bindings of `google.longrunning.Operations` (the `google.api.http` options of
/// operations.proto), matched against a request's method and path:
///
/// - `GET /v1/{name=operations}` (and nested collections, `/v1/tenants/acme/operations`): ListOperations
/// - `GET /v1/{name=operations/**}`: GetOperation
/// - `DELETE /v1/{name=operations/**}`: DeleteOperation
/// - `POST /v1/{name=operations/**}:cancel`: CancelOperation
///
/// A path that names no collection or operation is no route (404); a route asked with another
/// method is 405, with the methods it allows.
enum HTTPRoute: Equatable {
    case call(OperationsMethod, name: String)
    case notFound
    case methodNotAllowed(allow: [HTTPMethod])

    enum OperationsMethod: String, Sendable {
        case listOperations = "ListOperations"
        case getOperation = "GetOperation"
        case deleteOperation = "DeleteOperation"
        case cancelOperation = "CancelOperation"
    }

    static let prefix = "/v1/"

    /// `path` is the request target without its query, still percent-encoded.
    init(method: HTTPMethod, path: String) {
        guard path.hasPrefix(Self.prefix), let decoded = String(path.dropFirst(Self.prefix.count)).removingPercentEncoding else {
            self = .notFound
            return
        }
        let segments = decoded.split(separator: "/", omittingEmptySubsequences: false)
        // Alternating collection and id (AIP-122): an odd count ends in a collection, an even one
        // in an id. Only the `operations` collection is served; what the name's ids may be is the
        // engine's to check, with INVALID_ARGUMENT that says why.
        guard !segments.isEmpty, !segments.contains(where: \.isEmpty) else {
            self = .notFound
            return
        }
        if segments.count % 2 == 1 {
            guard segments.last == "operations" else {
                self = .notFound
                return
            }
            self = method == .GET ? .call(.listOperations, name: decoded) : .methodNotAllowed(allow: [.GET])
            return
        }
        guard segments[segments.count - 2] == "operations" else {
            self = .notFound
            return
        }
        let id = segments[segments.count - 1]
        if let colon = id.lastIndex(of: ":") {
            guard id[id.index(after: colon)...] == "cancel" else {
                self = .notFound
                return
            }
            let name = String(decoded.dropLast("cancel".count + 1))
            self = method == .POST ? .call(.cancelOperation, name: name) : .methodNotAllowed(allow: [.POST])
            return
        }
        switch method {
        case .GET: self = .call(.getOperation, name: decoded)
        case .DELETE: self = .call(.deleteOperation, name: decoded)
        default: self = .methodNotAllowed(allow: [.GET, .DELETE])
        }
    }
}

/// The query parameters of a request target (`a=1&b=two%20words`): `+` is a space and
/// percent-escapes are decoded, as HTML forms and every HTTP client encode them.
struct HTTPQuery: Sendable {
    var parameters: [(name: String, value: String)] = []

    init(_ query: Substring?) throws(QueryError) {
        guard let query, !query.isEmpty else { return }
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ text: Substring) throws(QueryError) -> String {
                guard let decoded = text.replacingOccurrences(of: "+", with: " ").removingPercentEncoding else {
                    throw QueryError(description: "the query parameter \(pair) is not valid percent-encoding")
                }
                return decoded
            }
            parameters.append((try decode(parts[0]), parts.count > 1 ? try decode(parts[1]) : ""))
        }
    }

    struct QueryError: Error {
        var description: String
    }
}
