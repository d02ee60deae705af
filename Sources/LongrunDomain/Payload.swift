/// An opaque typed payload: `google.protobuf.Any` on the wire, `(typeURL, bytes)` here.
///
/// The engine never interprets the bytes; filters look only at the type URL.
public struct Payload: Hashable, Sendable {
    /// e.g. `type.googleapis.com/acme.build.v1.BuildMetadata`
    public var typeURL: String
    public var value: [UInt8]

    @inlinable
    public init(typeURL: String, value: [UInt8]) {
        self.typeURL = typeURL
        self.value = value
    }

    /// The fully qualified message name: the part of the type URL after its last `/`.
    public var typeName: Substring {
        guard let slash = typeURL.utf8.lastIndex(of: UInt8(ascii: "/")) else { return typeURL[...] }
        return typeURL[typeURL.utf8.index(after: slash)...]
    }
}

/// The error an operation ended with: `google.rpc.Status` as data.
public struct Status: Hashable, Sendable {
    public var code: Int32
    public var message: String
    public var details: [Payload]

    public init(code: Int32, message: String, details: [Payload] = []) {
        self.code = code
        self.message = message
        self.details = details
    }

    public init(_ code: StatusCode, _ message: String, details: [Payload] = []) {
        self.init(code: code.rawValue, message: message, details: details)
    }
}

/// How a finished operation ended: exactly one of a response or an error.
public enum Outcome: Hashable, Sendable {
    case response(Payload)
    case error(Status)

    /// True when the operation ended with `error.code = CANCELLED`.
    public var isCancelled: Bool {
        if case .error(let status) = self { return status.code == StatusCode.cancelled.rawValue }
        return false
    }
}

/// Who caused a transition: a peer process (uid, pid as read from the socket), an embedding
/// program (a label), or the engine itself (automatic cancellation, expiry).
///
/// Its optionals are spelled `Optional<T>` and its initializer is inlinable, as
/// ``OperationState``'s are, so that a decoder in another module builds it in place.
public struct Actor: Hashable, Sendable, CustomStringConvertible {
    public var uid: Optional<UInt32>
    public var pid: Optional<Int32>
    public var label: String
    /// The host whose daemon recorded the transition: several hosts can share one store.
    public var host: Optional<String>

    @inlinable
    public init(uid: UInt32? = nil, pid: Int32? = nil, label: String = "", host: String? = nil) {
        self.uid = uid
        self.pid = pid
        self.label = label
        self.host = host
    }

    /// The engine, for transitions it makes on its own (cancel grace elapsed, immediate cancel).
    public static let engine = Actor(label: "longrun-engine")

    public var description: String {
        var parts: [String] = []
        if let uid { parts.append("uid=\(uid)") }
        if let pid { parts.append("pid=\(pid)") }
        if !label.isEmpty { parts.append(label) }
        if let host { parts.append("on \(host)") }
        return parts.isEmpty ? "anonymous" : parts.joined(separator: " ")
    }
}
