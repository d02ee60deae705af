extension DomainError {
    /// The `ErrorInfo.reason` of a failure, one constant per cause: stable, UPPER_SNAKE on the wire,
    /// and never compared as text. Every reason the daemon gives is declared here, those of the
    /// domain and those the edge and the store add (docs/API.md#errors lists them for clients).
    public struct Reason: Hashable, Sendable, CustomStringConvertible {
        /// What clients receive, e.g. `OPERATION_NOT_FOUND`.
        public let rawValue: String

        private init(_ rawValue: String) {
            self.rawValue = rawValue
        }

        public var description: String { rawValue }

        // MARK: Malformed requests (INVALID_ARGUMENT)
        public static let invalidName = Reason("INVALID_NAME")
        public static let invalidOperationID = Reason("INVALID_OPERATION_ID")
        public static let invalidRequestID = Reason("INVALID_REQUEST_ID")
        public static let invalidCancellation = Reason("INVALID_CANCELLATION")
        public static let invalidCancelGrace = Reason("INVALID_CANCEL_GRACE")
        public static let invalidErrorStatus = Reason("INVALID_ERROR_STATUS")
        public static let invalidFilter = Reason("INVALID_FILTER")
        public static let invalidLease = Reason("INVALID_LEASE")
        public static let invalidPageSize = Reason("INVALID_PAGE_SIZE")
        public static let invalidPageToken = Reason("INVALID_PAGE_TOKEN")
        public static let pageTokenMismatch = Reason("PAGE_TOKEN_MISMATCH")
        public static let invalidStart = Reason("INVALID_START")
        public static let invalidTimeout = Reason("INVALID_TIMEOUT")
        public static let missingResult = Reason("MISSING_RESULT")
        public static let missingCommand = Reason("MISSING_COMMAND")
        public static let bulkNeedsFilter = Reason("BULK_NEEDS_FILTER")
        public static let payloadTooLarge = Reason("PAYLOAD_TOO_LARGE")

        // MARK: The operation's lifecycle
        public static let operationNotFound = Reason("OPERATION_NOT_FOUND")
        public static let operationAlreadyExists = Reason("OPERATION_ALREADY_EXISTS")
        public static let operationAlreadyDone = Reason("OPERATION_ALREADY_DONE")
        public static let requestIDInUse = Reason("REQUEST_ID_IN_USE")
        public static let requestIDReused = Reason("REQUEST_ID_REUSED")
        public static let versionMismatch = Reason("VERSION_MISMATCH")
        public static let noLease = Reason("NO_LEASE")
        public static let generatedIDTaken = Reason("GENERATED_ID_TAKEN")
        /// Not a call's error: the `error` a running operation ends with when its lease expired.
        public static let producerLeaseExpired = Reason("PRODUCER_LEASE_EXPIRED")

        // MARK: Access
        public static let permissionDenied = Reason("PERMISSION_DENIED")
        public static let noPeerCredentials = Reason("NO_PEER_CREDENTIALS")
        public static let tooManyOpenCalls = Reason("TOO_MANY_OPEN_CALLS")
        public static let tooManyPendingBytes = Reason("TOO_MANY_PENDING_BYTES")
        public static let tooManyConnections = Reason("TOO_MANY_CONNECTIONS")

        // MARK: The log and its retention
        public static let historyCompacted = Reason("HISTORY_COMPACTED")
        public static let sequenceAheadOfLog = Reason("SEQUENCE_AHEAD_OF_LOG")
        public static let sequenceCompacted = Reason("SEQUENCE_COMPACTED")

        // MARK: Administration
        public static let snapshotInProgress = Reason("SNAPSHOT_IN_PROGRESS")
        public static let logDamaged = Reason("LOG_DAMAGED")
        public static let notOnThisBackend = Reason("NOT_ON_THIS_BACKEND")

        // MARK: The store (``StoreError`` at the edge)
        public static let storeFull = Reason("STORE_FULL")
        public static let storeUnavailable = Reason("STORE_UNAVAILABLE")
        public static let dataLoss = Reason("DATA_LOSS")
        public static let recordDamaged = Reason("RECORD_DAMAGED")
        public static let storageFailure = Reason("STORAGE_FAILURE")

        // MARK: The server and its transports
        public static let shuttingDown = Reason("SHUTTING_DOWN")
        public static let cancelled = Reason("CANCELLED")
        public static let unknown = Reason("UNKNOWN")
        public static let unknownService = Reason("UNKNOWN_SERVICE")
        public static let httpRouteNotFound = Reason("HTTP_ROUTE_NOT_FOUND")
        public static let httpMethodNotAllowed = Reason("HTTP_METHOD_NOT_ALLOWED")
        public static let invalidQueryParameter = Reason("INVALID_QUERY_PARAMETER")
        public static let invalidJSONBody = Reason("INVALID_JSON_BODY")
        public static let requestTooLarge = Reason("REQUEST_TOO_LARGE")
    }
}
