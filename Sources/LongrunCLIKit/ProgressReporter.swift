package import LongrunProto
package import SwiftProtobuf
import Synchronization

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
