import Foundation
public import LongrunDomain
public import LongrunProto
public import SwiftProtobuf

/// Conversions between the domain and the wire types: the only place that knows both. Used by
/// the server's edge and by the offline tools that print events.
extension Payload {
    public init(_ any: Google_Protobuf_Any) {
        self.init(typeURL: any.typeURL, value: [UInt8](any.value))
    }

    public var proto: Google_Protobuf_Any {
        var any = Google_Protobuf_Any()
        any.typeURL = typeURL
        any.value = Data(value)
        return any
    }
}

extension Status {
    public init(_ status: Google_Rpc_Status) {
        self.init(code: status.code, message: status.message, details: status.details.map(Payload.init))
    }

    public var proto: Google_Rpc_Status {
        var status = Google_Rpc_Status()
        status.code = code
        status.message = message
        status.details = details.map(\.proto)
        return status
    }
}

extension Timestamp {
    public var proto: Google_Protobuf_Timestamp {
        Google_Protobuf_Timestamp(seconds: seconds, nanos: nanos)
    }
}

extension Duration {
    /// A non-negative protobuf Duration; nil if negative or out of range.
    public init?(validating duration: Google_Protobuf_Duration) {
        guard duration.seconds >= 0, duration.nanos >= 0, duration.nanos < 1_000_000_000,
              duration.seconds <= 315_576_000_000
        else { return nil }
        self = .seconds(duration.seconds) + .nanoseconds(Int64(duration.nanos))
    }

    public var proto: Google_Protobuf_Duration {
        let nanoseconds = self.nanoseconds
        return Google_Protobuf_Duration(seconds: nanoseconds / 1_000_000_000, nanos: Int32(nanoseconds % 1_000_000_000))
    }
}

extension OperationState {
    /// `google.longrunning.Operation`: done=false ⇒ neither error nor response; done=true ⇒ exactly one.
    public var proto: Google_Longrunning_Operation {
        var operation = Google_Longrunning_Operation()
        operation.name = name.description
        if let metadata { operation.metadata = metadata.proto }
        switch outcome {
        case .response(let payload)?:
            operation.done = true
            operation.response = payload.proto
        case .error(let status)?:
            operation.done = true
            operation.error = status.proto
        case nil:
            operation.done = false
        }
        return operation
    }
}

extension Actor {
    public var proto: Longrun_V1_Actor {
        var actor = Longrun_V1_Actor()
        if let uid { actor.uid = uid }
        if let pid { actor.pid = pid }
        actor.label = label
        actor.host = host ?? ""
        return actor
    }
}

extension CancellationPolicy {
    public init(validating options: Longrun_V1_CancellationOptions?) throws(DomainError) {
        guard let options else {
            self = .default
            return
        }
        switch options.mode {
        case .immediate:
            guard !options.hasGrace else {
                throw DomainError(.invalidArgument, reason: .invalidCancellation, "cancellation.grace applies only to COOPERATIVE mode")
            }
            self = .immediate
        case .cooperative, .unspecified:
            guard options.hasGrace else {
                self = .cooperative(grace: nil)
                return
            }
            guard let grace = Duration(validating: options.grace) else {
                throw DomainError(.invalidArgument, reason: .invalidCancelGrace, "cancellation.grace must be a non-negative duration")
            }
            self = .cooperative(grace: grace)
        case .UNRECOGNIZED(let value):
            throw DomainError(.invalidArgument, reason: .invalidCancellation, "unknown cancellation mode \(value)")
        }
    }

    public var proto: Longrun_V1_CancellationOptions {
        var options = Longrun_V1_CancellationOptions()
        switch self {
        case .immediate:
            options.mode = .immediate
        case .cooperative(let grace):
            options.mode = .cooperative
            if let grace { options.grace = grace.proto }
        }
        return options
    }
}

extension Event {
    /// `longrun.v1.OperationEvent`, with the operation's state when it is given.
    public func proto(state: OperationState?) -> Longrun_V1_OperationEvent {
        var event = Longrun_V1_OperationEvent()
        event.sequence = sequence
        event.time = time.proto
        event.name = name.description
        event.actor = actor.proto
        switch kind {
        case .created(let created):
            var message = Longrun_V1_OperationEvent.Created()
            if let metadata = created.metadata { message.metadata = metadata.proto }
            message.requestID = created.requestID ?? ""
            message.cancellation = created.cancellation.proto
            if let ttl = created.leaseTTL { message.lease = ttl.proto }
            event.created = message
        case .progressed(let metadata):
            var message = Longrun_V1_OperationEvent.Progressed()
            if let metadata { message.metadata = metadata.proto }
            event.progressed = message
        case .cancelRequested(let reason, let deadline):
            var message = Longrun_V1_OperationEvent.CancelRequested()
            message.reason = reason
            if let deadline { message.graceDeadline = deadline.proto }
            event.cancelRequested = message
        case .completed(let outcome):
            var message = Longrun_V1_OperationEvent.Completed()
            switch outcome {
            case .response(let payload): message.response = payload.proto
            case .error(let status): message.error = status.proto
            }
            event.completed = message
        case .deleted:
            event.deleted = Longrun_V1_OperationEvent.Deleted()
        case .expired:
            event.expired = Longrun_V1_OperationEvent.Expired()
        case .holdSet(let reason):
            event.holdSet = .with { $0.reason = reason }
        case .holdReleased(let reason):
            event.holdReleased = .with { $0.reason = reason }
        case .repaired(let detail):
            event.repaired = .with { $0.detail = detail }
        case .leaseRenewed:
            event.leaseRenewed = Longrun_V1_OperationEvent.LeaseRenewed()
        case .adopted(let ttl):
            event.adopted = .with { if let ttl { $0.lease = ttl.proto } }
        }
        if let state { event.operation = state.proto }
        return event
    }
}

extension OperationState {
    /// `longrun.v1.OperationDetails`: what `google.longrunning.Operation` does not carry.
    public var detailsProto: Longrun_V1_OperationDetails {
        var details = Longrun_V1_OperationDetails()
        details.operation = proto
        details.version = version
        if let request = cancelRequest {
            details.cancelRequested = true
            details.cancelReason = request.reason
            if let deadline = request.graceDeadline, !done { details.cancelDeadline = deadline.proto }
        }
        details.createTime = createTime.proto
        details.updateTime = updateTime.proto
        if let endTime { details.endTime = endTime.proto }
        details.creator = creator.proto
        details.requestID = requestID ?? ""
        details.cancellation = cancellation.proto
        details.lastSequence = lastSequence
        if let hold {
            details.held = true
            details.holdReason = hold.reason
        }
        if let lease { details.lease = lease.proto }
        return details
    }
}

extension OperationState.Lease {
    /// `longrun.v1.Lease`.
    public var proto: Longrun_V1_Lease {
        var lease = Longrun_V1_Lease()
        lease.holder = holder.proto
        lease.ttl = ttl.proto
        lease.expireTime = expireTime.proto
        return lease
    }
}

extension Duration {
    /// A lease's TTL from the wire: nil when unset; INVALID_ARGUMENT when negative or malformed
    /// (the lifecycle checks the range).
    public static func leaseTTL(_ duration: Google_Protobuf_Duration?) throws(DomainError) -> Duration? {
        guard let duration else { return nil }
        guard let ttl = Duration(validating: duration) else {
            throw DomainError(.invalidArgument, reason: .invalidLease, "lease must be a non-negative duration (1s to 24h)")
        }
        return ttl
    }
}

extension Event.Kind.Tag {
    /// The kind of an event read off the wire; nil when it carries none (or one this build does not
    /// know), which the printers show as `unknown`.
    public init?(_ kind: Longrun_V1_OperationEvent.OneOf_Kind?) {
        switch kind {
        case .created: self = .created
        case .progressed: self = .progressed
        case .cancelRequested: self = .cancelRequested
        case .completed: self = .completed
        case .deleted: self = .deleted
        case .expired: self = .expired
        case .holdSet: self = .holdSet
        case .holdReleased: self = .holdReleased
        case .repaired: self = .repaired
        case .leaseRenewed: self = .leaseRenewed
        case .adopted: self = .adopted
        case nil: return nil
        }
    }
}
