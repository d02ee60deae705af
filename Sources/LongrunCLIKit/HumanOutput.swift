import LongrunDefaults
import LongrunDomain
package import LongrunProto
import LongrunWire
package import SwiftProtobuf

/// The CLI's human-readable output: tables, progress lines, operation blocks, event rows.
package enum HumanOutput {
    // MARK: Tables

    /// Columns left-aligned and separated by two spaces; the last column is not padded.
    package static func table(header: [String], rows: [[String]]) -> String {
        let all = [header] + rows
        let columns = all.map(\.count).max() ?? 0
        var widths = Array(repeating: 0, count: columns)
        for row in all {
            for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) }
        }
        return all.map { row in
            var line = ""
            for (index, cell) in row.enumerated() {
                if index > 0 { line += "  " }
                line += cell
                if index < row.count - 1 { line += String(repeating: " ", count: widths[index] - cell.count) }
            }
            while line.hasSuffix(" ") { line.removeLast() }
            return line
        }.joined(separator: "\n")
    }

    /// The `list` table: NAME, DONE, RESULT, UPDATED (`-` when unknown).
    package static func operationsTable(_ operations: [Google_Longrunning_Operation], updated: [String: Google_Protobuf_Timestamp] = [:]) -> String {
        table(header: ["NAME", "DONE", "RESULT", "UPDATED"], rows: operations.map { operation in
            [
                operation.name,
                operation.done ? "yes" : "no",
                resultSummary(operation),
                updated[operation.name].map(RFC3339.format) ?? "-",
            ]
        })
    }

    /// `-` (running), `ok`, `cancelled` or `ERROR <CODE>`.
    package static func resultSummary(_ operation: Google_Longrunning_Operation) -> String {
        guard operation.done else { return "-" }
        switch operation.result {
        case .response: return "ok"
        case .error(let status) where status.code == CodeName.cancelled: return "cancelled"
        case .error(let status): return "ERROR \(CodeName.of(status.code))"
        case nil: return "?"
        }
    }

    // MARK: Payloads

    /// `google.protobuf.Struct {"percent":42}`; for types without a JSON form, `acme.v1.Foo (12 bytes)`.
    package static func describe(_ any: Google_Protobuf_Any) -> String {
        if any.typeURL.isEmpty && any.value.isEmpty { return "(empty)" }
        if let content = contentJSON(any) { return "\(any.messageName) \(content)" }
        return "\(any.messageName) (\(any.value.count) bytes)"
    }

    /// The JSON of the message inside `any`, if its type is registered and it decodes, with the
    /// keys of its objects sorted (so that the same payload always prints the same).
    package static func contentJSON(_ any: Google_Protobuf_Any) -> String? {
        LongrunTypes.registerAll()
        guard let type = Google_Protobuf_Any.messageType(forTypeURL: any.typeURL),
              let message = try? type.init(serializedBytes: any.value),
              let json = try? message.jsonString(options: JSONOutput.encodingOptions)
        else { return nil }
        return SortedKeysJSON.sorted(json)
    }

    // MARK: Progress

    /// One line on an operation's progress. For a `google.protobuf.Struct` with a numeric `percent`
    /// (or `progress`) and/or a string `message`: `operations/x  42%  compiling`. Otherwise the
    /// metadata's type and `updated` time: `operations/x  acme.v1.BuildMetadata  updated <time>`.
    package static func progressLine(_ operation: Google_Longrunning_Operation, updated: Google_Protobuf_Timestamp?) -> String {
        var parts = [operation.name]
        if operation.hasMetadata, let progress = structProgress(operation.metadata),
           progress.percent != nil || progress.message != nil {
            if let percent = progress.percent { parts.append(formatPercent(percent)) }
            if let message = progress.message { parts.append(message) }
        } else if operation.hasMetadata {
            parts.append(operation.metadata.messageName)
            if let updated { parts.append("updated \(RFC3339.format(updated))") }
        } else {
            parts.append(operation.done ? "done" : "running")
            if let updated { parts.append("updated \(RFC3339.format(updated))") }
        }
        return parts.joined(separator: "  ")
    }

    /// The `percent`/`progress` number and `message` string of a Struct; nil if not a Struct.
    static func structProgress(_ any: Google_Protobuf_Any) -> (percent: Double?, message: String?)? {
        guard any.isA(Google_Protobuf_Struct.self),
              let object = try? Google_Protobuf_Struct(serializedBytes: any.value)
        else { return nil }
        var percent: Double?
        for key in ["percent", "progress"] {
            if case .numberValue(let value)? = object.fields[key]?.kind, value.isFinite {
                percent = value
                break
            }
        }
        var message: String?
        if case .stringValue(let text)? = object.fields["message"]?.kind, !text.isEmpty {
            message = text.split(whereSeparator: \.isNewline).joined(separator: " ")
        }
        return (percent, message)
    }

    /// `42%`, `42.5%`.
    static func formatPercent(_ value: Double) -> String {
        let tenths = (value * 10).rounded()
        guard abs(tenths) < 1e15 else { return "\(value)%" }
        let whole = Int64(tenths)
        if whole % 10 == 0 { return "\(whole / 10)%" }
        return "\(whole < 0 ? "-" : "")\(abs(whole) / 10).\(abs(whole) % 10)%"
    }

    // MARK: Operations

    /// An operation as a block of `label: value` lines (`wait`, `complete`).
    package static func operationBlock(_ operation: Google_Longrunning_Operation) -> String {
        block(operationLines(operation))
    }

    /// The `get` block: the operation, then what its details add — version, times, creator,
    /// request id, cancellation policy and cancel request.
    package static func detailsBlock(_ details: Longrun_V1_OperationDetails) -> String {
        var lines = operationLines(details.operation)
        lines.append(("version", String(details.version)))
        lines.append(("created", details.hasCreateTime ? RFC3339.format(details.createTime) : "-"))
        lines.append(("updated", details.hasUpdateTime ? RFC3339.format(details.updateTime) : "-"))
        if details.hasEndTime { lines.append(("ended", RFC3339.format(details.endTime))) }
        lines.append(("creator", actor(details.creator)))
        if !details.requestID.isEmpty { lines.append(("request id", details.requestID)) }
        if details.hasCancellation { lines.append(("cancellation", cancellationPolicy(details.cancellation))) }
        lines.append(("cancel", cancelRequest(details)))
        lines.append(("hold", details.held ? (details.holdReason.isEmpty ? "held" : "held reason=\(JSONOutput.quote(details.holdReason))") : "none"))
        lines.append(("lease", lease(details)))
        return block(lines)
    }

    /// `none`, or `ttl=30s expires=<time> holder=worker uid=1000 pid=42`.
    static func lease(_ details: Longrun_V1_OperationDetails) -> String {
        guard details.hasLease else { return "none" }
        let lease = details.lease
        return "ttl=\(DurationText.format(Duration(lease.ttl))) expires=\(RFC3339.format(lease.expireTime)) holder=\(actor(lease.holder))"
    }

    /// `not requested`, or `requested reason="..." deadline=<time>` (the reason when one was
    /// given; the deadline while the engine has yet to enforce it).
    static func cancelRequest(_ details: Longrun_V1_OperationDetails) -> String {
        guard details.cancelRequested else { return "not requested" }
        var parts = ["requested"]
        if !details.cancelReason.isEmpty { parts.append("reason=\(JSONOutput.quote(details.cancelReason))") }
        if details.hasCancelDeadline { parts.append("deadline=" + RFC3339.format(details.cancelDeadline)) }
        return parts.joined(separator: " ")
    }

    /// `immediate`, `cooperative grace=30s` or `cooperative grace=default`.
    static func cancellationPolicy(_ options: Longrun_V1_CancellationOptions) -> String {
        guard options.mode != .immediate else { return "immediate" }
        return "cooperative grace=" + (options.hasGrace ? DurationText.format(Duration(options.grace)) : "default")
    }

    private static func operationLines(_ operation: Google_Longrunning_Operation) -> [(String, String)] {
        var lines: [(String, String)] = [("name", operation.name)]
        lines.append(("done", operation.done ? "yes" : "no"))
        if operation.hasMetadata { lines.append(("metadata", describe(operation.metadata))) }
        switch operation.result {
        case .response(let response):
            lines.append(("result", "ok"))
            lines.append(("response", describe(response)))
        case .error(let status):
            lines.append(("result", status.code == CodeName.cancelled ? "cancelled" : "ERROR \(CodeName.of(status.code))"))
            lines.append(("error", statusLine(status)))
            for detail in status.details { lines.append(("detail", describe(detail))) }
        case nil:
            if operation.done { lines.append(("result", "?")) }
        }
        return lines
    }

    /// `label:` lines with the values aligned (at column 10 at least).
    private static func block(_ lines: [(String, String)]) -> String {
        let width = max(10, (lines.map(\.0.count).max() ?? 0) + 2)
        return lines.map { key, value in
            let label = key + ":"
            return label + String(repeating: " ", count: width - label.count) + value
        }.joined(separator: "\n")
    }

    /// `INTERNAL (13): message (REASON)`.
    package static func statusLine(_ status: Google_Rpc_Status) -> String {
        var text = "\(CodeName.of(status.code)) (\(status.code))"
        if !status.message.isEmpty { text += ": \(status.message)" }
        if let info = status.details.lazy.compactMap({ try? Google_Rpc_ErrorInfo(unpackingAny: $0) }).first,
           !info.reason.isEmpty {
            text += " (\(info.reason))"
        }
        return text
    }

    // MARK: Events

    /// The `history` table: SEQ, TIME, KIND, ACTOR, DETAIL.
    package static func eventsTable(_ events: [Longrun_V1_OperationEvent]) -> String {
        table(header: ["SEQ", "TIME", "KIND", "ACTOR", "DETAIL"], rows: events.map { event in
            [String(event.sequence), time(event), kind(event), actor(event.actor), detail(event)]
        })
    }

    /// One `watch` line: SEQ TIME NAME KIND ACTOR DETAIL.
    package static func watchLine(_ event: Longrun_V1_OperationEvent) -> String {
        [String(event.sequence), time(event), event.name, kind(event), actor(event.actor), detail(event)]
            .filter { !$0.isEmpty }
            .joined(separator: "  ")
    }

    static func time(_ event: Longrun_V1_OperationEvent) -> String {
        event.hasTime ? RFC3339.format(event.time) : "-"
    }

    /// The event's kind as the domain labels it (`cancel_requested`), or `unknown`.
    package static func kind(_ event: Longrun_V1_OperationEvent) -> String {
        Event.Kind.Tag(event.kind)?.rawValue ?? "unknown"
    }

    /// `worker-7 uid=1000 pid=4242 host=build-3`, `longrun-engine`, or `-`.
    package static func actor(_ actor: Longrun_V1_Actor) -> String {
        var parts: [String] = []
        if !actor.label.isEmpty { parts.append(actor.label) }
        if actor.hasUid { parts.append("uid=\(actor.uid)") }
        if actor.hasPid { parts.append("pid=\(actor.pid)") }
        if !actor.host.isEmpty { parts.append("host=\(actor.host)") }
        return parts.isEmpty ? "-" : parts.joined(separator: " ")
    }

    package static func detail(_ event: Longrun_V1_OperationEvent) -> String {
        switch event.kind {
        case .created(let created):
            var parts: [String] = []
            if created.hasMetadata { parts.append("metadata=" + describe(created.metadata)) }
            if !created.requestID.isEmpty { parts.append("request_id=\(created.requestID)") }
            if created.hasCancellation { parts.append("cancellation=" + cancellationPolicy(created.cancellation)) }
            if created.hasLease { parts.append("lease=" + DurationText.format(Duration(created.lease))) }
            return parts.joined(separator: " ")
        case .progressed(let progressed):
            let metadata = progressed.hasMetadata ? describe(progressed.metadata) : "metadata cleared"
            return "v\(progressed.version) \(metadata)"
        case .cancelRequested(let request):
            var parts: [String] = []
            if !request.reason.isEmpty { parts.append("reason=\(JSONOutput.quote(request.reason))") }
            if request.hasGraceDeadline { parts.append("grace_deadline=" + RFC3339.format(request.graceDeadline)) }
            return parts.joined(separator: " ")
        case .completed(let completed):
            switch completed.result {
            case .response(let response): return "ok " + describe(response)
            case .error(let status) where status.code == CodeName.cancelled:
                return "cancelled" + (status.message.isEmpty ? "" : ": \(status.message)")
            case .error(let status): return "ERROR " + statusLine(status)
            case nil: return ""
            }
        case .holdSet(let hold):
            return hold.reason.isEmpty ? "" : "reason=\(JSONOutput.quote(hold.reason))"
        case .holdReleased(let release):
            return release.reason.isEmpty ? "" : "reason=\(JSONOutput.quote(release.reason))"
        case .repaired(let repair):
            return "rebuilt from the log: \(repair.detail)"
        case .adopted(let adopted):
            return adopted.hasLease ? "lease=" + DurationText.format(Duration(adopted.lease)) : ""
        case .deleted, .expired, .leaseRenewed, nil:
            return ""
        }
    }
}
