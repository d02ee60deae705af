import LongrunDomain
import LongrunProto
package import SwiftProtobuf

/// RFC 3339 timestamps in UTC for human output: `2026-05-01T10:00:00Z`, with milliseconds when the
/// time has a fraction of a second (`2026-05-01T10:00:00.250Z`). The calendar arithmetic is the
/// domain's; this adapts protobuf timestamps to it.
package enum RFC3339 {
    package static func format(_ timestamp: Google_Protobuf_Timestamp) -> String {
        format(seconds: timestamp.seconds, nanos: timestamp.nanos)
    }

    package static func format(seconds: Int64, nanos: Int32) -> String {
        LongrunDomain.RFC3339.format(seconds: seconds, nanos: nanos, millisecondsOnly: true)
    }
}
