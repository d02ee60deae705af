import LongrunProto
import SwiftProtobuf
import Synchronization

extension LongrunClient {
    /// Each operation's `update_time` (its last change), from `GetOperationDetails`, for the
    /// `list` table: `concurrency` calls at a time. Operations whose details cannot be read (e.g.
    /// deleted since they were listed) are left out; after an `UNIMPLEMENTED` answer (a daemon
    /// without the RPC) no further call is started.
    package func updateTimes(of names: [String], concurrency: Int = 8) async -> [String: Google_Protobuf_Timestamp] {
        enum Lookup: Sendable {
            case found(String, Google_Protobuf_Timestamp)
            case missing
            case unsupported
        }
        return await withTaskGroup(of: Lookup.self) { group in
            var times: [String: Google_Protobuf_Timestamp] = [:]
            var pending = names[...]
            func startNext() {
                guard let name = pending.popFirst() else { return }
                group.addTask {
                    do {
                        let details = try await self.details(name)
                        return details.hasUpdateTime ? .found(name, details.updateTime) : .missing
                    } catch let error as LongrunClientError where error.code == .unimplemented {
                        return .unsupported
                    } catch {
                        return .missing
                    }
                }
            }
            for _ in 0..<max(1, concurrency) { startNext() }
            while let lookup = await group.next() {
                switch lookup {
                case .found(let name, let time):
                    times[name] = time
                    startNext()
                case .missing:
                    startNext()
                case .unsupported:
                    pending = []
                }
            }
            return times
        }
    }

    /// `UpdateOperation` with the operation's current metadata sent again: a liveness report that
    /// changes only its version and update time (`longrun progress` without metadata options).
    ///
    /// The metadata and version are read with `GetOperationDetails`, and the update is sent with
    /// `expected_version` set to that version, so that an update made in between is never
    /// overwritten with the older metadata: on `ABORTED` the operation is read again and the
    /// update retried, up to `attempts` times in all. With an `expectedVersion` given, that one is
    /// sent instead, and an `ABORTED` is thrown as it is.
    package func resendMetadata(
        _ name: String, expectedVersion: UInt64? = nil, attempts: Int = 5
    ) async throws -> Longrun_V1_UpdateOperationResponse {
        var attempt = 1
        while true {
            let details = try await details(name)
            let metadata: Google_Protobuf_Any? = details.operation.hasMetadata ? details.operation.metadata : nil
            do {
                return try await updateOperation(name, metadata: metadata, expectedVersion: expectedVersion ?? details.version)
            } catch let error as LongrunClientError where error.code == .aborted && expectedVersion == nil && attempt < attempts {
                attempt += 1
            }
        }
    }
}

/// Prints a progress line whenever an operation's metadata changes (the `wait` command).
package final class ProgressReporter: Sendable {
    private let write: @Sendable (String) -> Void
    private let now: @Sendable () -> Google_Protobuf_Timestamp
    private let last = Mutex<Google_Protobuf_Any??>(nil)

    /// - Parameters:
    ///   - write: prints one line.
    ///   - now: the time to show as "updated" for metadata without a percentage or message.
    package init(write: @escaping @Sendable (String) -> Void, now: @escaping @Sendable () -> Google_Protobuf_Timestamp) {
        self.write = write
        self.now = now
    }

    /// Prints a line if the metadata differs from the last one seen (the first state with metadata
    /// counts as a change). Done operations are not reported: the final result is printed instead.
    package func observe(_ operation: Google_Longrunning_Operation) {
        let metadata: Google_Protobuf_Any? = operation.hasMetadata ? operation.metadata : nil
        let changed = last.withLock { last -> Bool in
            if case .some(let previous) = last, previous == metadata { return false }
            let first = last == nil
            last = .some(metadata)
            return !(first && metadata == nil)
        }
        guard changed, !operation.done else { return }
        write(HumanOutput.progressLine(operation, updated: now()))
    }
}
