public import Logging
import LongrunCLIKit
public import LongrunDomain
import LongrunProto
public import LongrunStore
import LongrunWire

/// A point in the log: right after an event, or right after the last event at or before a time.
public enum PointInTime: Sendable, Equatable, CustomStringConvertible {
    case sequence(UInt64)
    case time(Timestamp)

    /// `42` (a sequence) or an RFC 3339 time (`2027-01-15T08:00:00Z`); nil for anything else.
    public init?(parsing text: String) {
        if !text.isEmpty, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let sequence = UInt64(text) {
            self = .sequence(sequence)
        } else if let time = LongrunDomain.RFC3339.parse(text) {
            self = .time(time)
        } else {
            return nil
        }
    }

    public var description: String {
        switch self {
        case .sequence(let sequence): "event \(sequence)"
        case .time(let time): LongrunDomain.RFC3339.format(time)
        }
    }

    /// The sequence this point names in `store`'s log.
    public func sequence(in store: any OperationStore) async throws -> UInt64 {
        let head = try await store.appliedSequence()
        switch self {
        case .sequence(let sequence):
            guard sequence <= head else {
                throw ReplayError("--at \(sequence) is after the last event of the log (\(head))")
            }
            return sequence
        case .time(let time):
            guard let sequence = try await store.lastSequence(atOrBefore: time) else {
                if let first = try await store.event(at: try await store.logTail() ?? 1) {
                    throw ReplayError("no event is at or before \(LongrunDomain.RFC3339.format(time)): the log starts at event \(first.sequence), at \(LongrunDomain.RFC3339.format(first.time)); use a later time or --at 0 for the empty state")
                }
                throw ReplayError("the log is empty: there is no state at \(LongrunDomain.RFC3339.format(time))")
            }
            return sequence
        }
    }
}

/// What `state --at` asks: one operation, or a collection filtered.
public struct StateQuery: Sendable {
    public var at: PointInTime
    public var name: OperationName?
    public var collection: CollectionName
    public var filter: Filter

    public init(at: PointInTime, name: OperationName? = nil, collection: CollectionName = .root, filter: Filter = .all) {
        self.at = at
        self.name = name
        self.collection = collection
        self.filter = filter
    }
}

/// The state as it was right after one event, computed by replaying the log into a scratch store.
public struct StateAt: Sendable {
    public enum Content: Sendable, Equatable {
        /// The operation existed and was not deleted.
        case operation(OperationState)
        /// The operation had been deleted (or expired under the retention policy); its last state.
        case deleted(OperationState)
        /// The operation did not exist yet; `createdAt` is when it was created later, if it was.
        case absent(OperationName, createdAt: UInt64?)
        /// The collection's live operations matching the filter, in creation order.
        case list([OperationState])
    }

    public var sequence: UInt64
    /// The time of the event at ``sequence`` (nil at 0).
    public var time: Timestamp?
    public var collection: CollectionName
    public var filter: Filter
    public var content: Content

    /// Replays the log up to the event `query.at` names into a scratch store under `scratchParent`
    /// (from the newest usable snapshot at or before it), reads the answer, removes the scratch.
    public static func run(store: Store, query: StateQuery, scratchParent: String? = nil, logger: Logger,
                           progress: StoreProgressHandler? = nil) async throws -> StateAt {
        let sequence = try await query.at.sequence(in: store)
        let time = try await store.event(at: sequence)?.time
        let scratch = try ScratchDirectory(in: scratchParent)
        defer { scratch.remove() }
        let content = try replay(store: store, upTo: sequence, into: scratch.path + "/state", query: query, logger: logger, progress: progress)
        return try await answer(sequence: sequence, time: time, query: query, content: content, now: store)
    }

    /// One operation's state at `query.at`, folded from its own events only, without a scratch
    /// store: what `state --at NAME` does on a PostgreSQL store (whose log is never compacted).
    public static func operation(_ name: OperationName, in store: any OperationStore, at point: PointInTime) async throws -> StateAt {
        let sequence = try await point.sequence(in: store)
        let time = try await store.event(at: sequence)?.time
        let content: Content = if let state = try await store.state(of: name, at: sequence) {
            state.isDeleted ? .deleted(state) : .operation(state)
        } else {
            .absent(name, createdAt: nil)
        }
        return try await answer(sequence: sequence, time: time, query: StateQuery(at: point, name: name), content: content, now: store)
    }

    /// An answer; for an operation that did not exist then, says when it came to be from the
    /// current views of `store`.
    private static func answer(sequence: UInt64, time: Timestamp?, query: StateQuery, content: Content, now store: any OperationStore) async throws -> StateAt {
        var content = content
        if case .absent(let name, _) = content {
            content = .absent(name, createdAt: try await store.operation(name)?.createSequence)
        }
        return StateAt(sequence: sequence, time: time, collection: query.collection, filter: query.filter, content: content)
    }

    private static func replay(store: Store, upTo sequence: UInt64, into directory: String, query: StateQuery,
                               logger: Logger, progress: StoreProgressHandler?) throws -> Content {
        let replayed = try Store.rebuild(from: store, into: directory, upTo: sequence,
                                         snapshot: try store.usableSnapshot(upTo: sequence), logger: logger, progress: progress)
        return try replayed.read { reader -> Content in
            if let name = query.name {
                guard let state = try reader.operation(name) else { return .absent(name, createdAt: nil) }
                return state.isDeleted ? .deleted(state) : .operation(state)
            }
            var operations: [OperationState] = []
            var after: UInt64 = 0
            while true {
                let page = try reader.list(ListQuery(collection: query.collection, filter: query.filter, afterCreateSequence: after, pageSize: 1000))
                operations += page.operations
                guard let next = page.resumeAfter else { return .list(operations) }
                after = next
            }
        }
    }

    /// `as of event 9 (2027-01-15T08:00:09Z)`.
    public var point: String {
        "as of event \(sequence)" + (time.map { " (\(LongrunDomain.RFC3339.format($0)))" } ?? "")
    }

    public var human: String {
        switch content {
        case .operation(let state):
            return "\(state.name) \(point):\n" + Self.block(state)
        case .deleted(let state):
            var how = "deleted at event \(state.lastSequence)"
            if let deletion = state.deletion {
                how += " (\(format(deletion.time))) by \(describe(deletion.actor))"
            } else if let expired = state.expireTime {
                how = "expired under the retention policy at event \(state.lastSequence) (\(format(expired)))"
            }
            return "\(state.name) \(point): \(how); its last state:\n" + Self.block(state)
        case .absent(let name, let createdAt):
            let later = createdAt.map { $0 > sequence ? " (it was created later, at event \($0))" : "" } ?? " (nor does it exist now)"
            return "\(name) did not exist \(point)\(later)"
        case .list(let operations):
            let filterText = filter.isEmpty ? "" : " matching \(filter.canonical)"
            let header = "\(operations.count) operation\(operations.count == 1 ? "" : "s") in \(collection)\(filterText) \(point)"
            guard !operations.isEmpty else { return header }
            let updated = Dictionary(operations.map { ($0.name.description, $0.updateTime.proto) }, uniquingKeysWith: { a, _ in a })
            return header + "\n" + HumanOutput.operationsTable(operations.map(\.proto), updated: updated)
        }
    }

    /// The block of `longrun get`, and the events it spans.
    static func block(_ state: OperationState) -> String {
        let text = HumanOutput.detailsBlock(state.detailsProto)
        // Continue the block's alignment: the column where its first value starts.
        let first = text.prefix(while: { $0 != "\n" })
        let width = first.count - first.drop(while: { $0 != " " }).drop(while: { $0 == " " }).count
        var extra: [(String, String)] = []
        if let request = state.cancelRequest {
            extra.append(("cancel by", "\(describe(request.actor)) at \(format(request.time))"))
        }
        if let hold = state.hold {
            extra.append(("hold", "kept from expiring since \(format(hold.time)) by \(describe(hold.actor))" + (hold.reason.isEmpty ? "" : ", reason \(JSONOutput.quote(hold.reason))")))
        }
        extra.append(("events", "created at event \(state.createSequence), last at event \(state.lastSequence)"))
        return text + extra.map { key, value in
            "\n" + key + ":" + String(repeating: " ", count: max(1, width - key.count - 1)) + value
        }.joined()
    }

    /// For one operation: one JSON object. For a collection: one operation per line, as
    /// `longrun list --json` prints them.
    public var jsonLines: [String] {
        switch content {
        case .list(let operations):
            return operations.map { JSONOutput.line($0.proto) }
        case .operation(let state), .deleted(let state):
            var fields: [(String, JSONValue)] = [
                ("sequence", .unsigned(sequence)), ("time", .time(time)), ("name", .string(state.name.description)),
                ("exists", .bool(true)), ("deleted", .bool(state.isDeleted)),
            ]
            if let deletion = state.deletion {
                fields.append(("deleteSequence", .unsigned(state.lastSequence)))
                fields.append(("deleteTime", .time(deletion.time)))
                fields.append(("deletedBy", deletion.actor.json))
            }
            if let expired = state.expireTime {
                fields.append(("expired", .bool(true)))
                fields.append(("expireSequence", .unsigned(state.lastSequence)))
                fields.append(("expireTime", .time(expired)))
            }
            if let hold = state.hold {
                fields.append(("hold", .object([("reason", .string(hold.reason)), ("time", .time(hold.time)), ("actor", hold.actor.json)])))
            }
            fields += [
                ("version", .unsigned(state.version)),
                ("createSequence", .unsigned(state.createSequence)),
                ("lastSequence", .unsigned(state.lastSequence)),
                ("createTime", .time(state.createTime)),
                ("updateTime", .time(state.updateTime)),
                ("endTime", .time(state.endTime)),
                ("creator", state.creator.json),
                ("cancelRequested", .bool(state.cancelRequest != nil)),
                ("operation", .raw(JSONOutput.line(state.proto))),
            ]
            return [JSONValue.object(fields).text]
        case .absent(let name, let createdAt):
            return [JSONValue.object([
                ("sequence", .unsigned(sequence)), ("time", .time(time)), ("name", .string(name.description)),
                ("exists", .bool(false)), ("createSequence", .optional(createdAt)),
            ]).text]
        }
    }

    /// 0, or 1 when the operation asked for did not exist at that point.
    public var exitCode: Int32 {
        if case .absent = content { return ReplayExitCode.failure }
        return ReplayExitCode.success
    }
}
