import LongrunDomain
import LongrunStore
import PostgresNIO

/// The bytes a PostgreSQL store keeps are LMDB's: a log entry is `CRC-32C · chain hash · record`,
/// a view record `CRC-32C · record`, with the same checksums over the same keys. Every read checks
/// them, so damage is named the same way on both backends and a copy between them is byte for byte.
enum PostgresRecords {
    static func logEntry(_ event: Event, previous: ChainHash) -> (ByteBuffer, ChainHash) {
        let (value, hash) = LogEntry.make(sequence: event.sequence, previous: previous, record: RecordCodec.encode(event))
        return (ByteBuffer(bytes: value), hash)
    }

    static func openEvent(_ entry: ByteBuffer, sequence: Int64) throws -> Event {
        let sequence = UInt64(sequence)
        return try entry.readableBytesView.withContiguousStorageIfAvailable { bytes in
            try decodeEvent(LogEntry.open(UnsafeRawBufferPointer(bytes), sequence: sequence).record, sequence: sequence)
        }!
    }

    /// The event in a log entry's record bytes, which must claim `sequence`.
    static func decodeEvent(_ record: UnsafeRawBufferPointer, sequence: UInt64) throws -> Event {
        let event: Event
        do { event = try RecordCodec.decodeEvent(record) } catch {
            throw StoreError(.dataLoss, "log event \(sequence) cannot be decoded (\(error)); run `longrun-replay verify`")
        }
        guard event.sequence == sequence else {
            throw StoreError(.dataLoss, "log event \(sequence) claims sequence \(event.sequence); run `longrun-replay verify`")
        }
        return event
    }

    static func sealState(_ state: OperationState) -> ByteBuffer {
        ByteBuffer(bytes: Checksum.seal(key: Array(state.name.description.utf8), body: RecordCodec.encode(state)))
    }

    static func openState(_ record: ByteBuffer, name: String) throws -> OperationState {
        try record.readableBytesView.withContiguousStorageIfAvailable { bytes in
            let body = try Array(name.utf8).withUnsafeBytes { key in
                try Checksum.open(named: "operations", key: key, value: UnsafeRawBufferPointer(bytes))
            }
            do {
                return try RecordCodec.decodeState(body)
            } catch {
                throw StoreError(.dataLoss, "the view of \(name) cannot be decoded (\(error)); rebuild it from the log")
            }
        }!
    }
}
