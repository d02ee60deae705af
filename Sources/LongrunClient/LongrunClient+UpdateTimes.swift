import LongrunProto
package import SwiftProtobuf

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
}
