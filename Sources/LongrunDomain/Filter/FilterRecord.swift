/// The projection of an operation that a ``Filter`` looks at.
///
/// The store builds one per scanned row; keep it cheap to construct (no derived strings).
public struct FilterRecord: Sendable {
    /// The operation's resource name, e.g. `operations/abc`.
    public var name: String
    public var done: Bool
    public var createTime: Timestamp
    public var updateTime: Timestamp
    /// Set once the operation is done.
    public var endTime: Timestamp?
    /// nil unless the operation is done with an error.
    public var errorCode: Int32?
    public var cancelRequested: Bool
    /// The full `Any` type URL of the metadata, e.g. `type.googleapis.com/acme.v1.BuildMetadata`.
    public var metadataType: String?
    /// The full `Any` type URL of the response; nil unless the operation is done with a response.
    public var responseType: String?
    /// The metadata itself, read only by a filter on a field inside it (`metadata.stage = "LINKING"`).
    public var metadata: Payload?
    /// The response itself; nil unless the operation is done with a response.
    public var response: Payload?

    public init(
        name: String,
        done: Bool,
        createTime: Timestamp,
        updateTime: Timestamp,
        endTime: Timestamp? = nil,
        errorCode: Int32? = nil,
        cancelRequested: Bool = false,
        metadataType: String? = nil,
        responseType: String? = nil,
        metadata: Payload? = nil,
        response: Payload? = nil
    ) {
        self.name = name
        self.done = done
        self.createTime = createTime
        self.updateTime = updateTime
        self.endTime = endTime
        self.errorCode = errorCode
        self.cancelRequested = cancelRequested
        self.metadataType = metadataType
        self.responseType = responseType
        self.metadata = metadata
        self.response = response
    }
}
