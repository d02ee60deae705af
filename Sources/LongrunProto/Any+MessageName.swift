public import SwiftProtobuf

extension Google_Protobuf_Any {
    /// The full message name of the type URL: what follows its last `/`
    /// (`type.googleapis.com/google.protobuf.Struct` → `google.protobuf.Struct`).
    public var messageName: String {
        guard let slash = typeURL.lastIndex(of: "/") else { return typeURL }
        return String(typeURL[typeURL.index(after: slash)...])
    }
}
