import Foundation
import LongrunDomain
import LongrunFuzzProperties
@testable import LongrunStore
import LongrunTestSupport
import Testing

// Seeded random damage to the store's records, as a damaged or foreign data file can hold: the
// properties of `RecordProperties` (LongrunFuzzProperties), which Tools/fuzz's fuzz-event-codec
// target checks too, bounded so that every `swift test` runs them.
// LONGRUN_FUZZ_ITERATIONS (default 20000) inputs per test from LONGRUN_FUZZ_SEED (default fixed);
// a failure names the seed to rerun with.

// MARK: - Valid values from every corner of the format

private enum Values {
    static let names = ["operations/a", "tenants/acme/operations/build-7", "operations/o01jd4x8k2m7c9gq1",
                        "p/0/l/us-east1/operations/" + String(repeating: "z", count: 63)].map { try! OperationName(parsing: $0) }
    static let times: [Int64] = [0, 1, -1, .max, .min, .min + 1, 1_800_000_000_123_456_789]
    static let strings = ["", "x", "ünïcödé \u{1F600}", String(repeating: "r", count: 300), "\0"]

    static func time(_ random: inout SplitMix64) -> Timestamp {
        Timestamp(nanosecondsSinceEpoch: random.chance(70) ? random.pick(times) : Int64(bitPattern: random.next()))
    }

    static func actor(_ random: inout SplitMix64) -> Actor {
        Actor(uid: random.chance(50) ? random.pick([0, 1000, .max]) : nil, pid: random.chance(50) ? random.pick([0, -1, .max, .min]) : nil,
              label: random.pick(strings))
    }

    static func payload(_ random: inout SplitMix64) -> Payload {
        Payload(typeURL: random.pick(["", "type.googleapis.com/acme.v1.BuildMetadata", "x"]), value: random.bytes(0...40))
    }

    static func grace(_ random: inout SplitMix64) -> Duration {
        .nanoseconds(random.chance(70) ? random.pick([0, 1, -1, 30_000_000_000, .max, .min, .min + 1, .max - 1]) : Int64(bitPattern: random.next()))
    }

    static func cancellation(_ random: inout SplitMix64) -> CancellationPolicy {
        switch Int.random(in: 0..<3, using: &random) {
        case 0: .immediate
        case 1: .cooperative(grace: nil)
        default: .cooperative(grace: grace(&random))
        }
    }

    static func outcome(_ random: inout SplitMix64) -> Outcome {
        random.chance(50)
            ? .response(payload(&random))
            : .error(Status(code: random.pick([0, 1, -7, .max, .min]), message: random.pick(strings),
                            details: (0..<Int.random(in: 0...2, using: &random)).map { _ in payload(&random) }))
    }

    static func kind(_ random: inout SplitMix64) -> Event.Kind {
        switch Int.random(in: 0..<11, using: &random) {
        case 0: .created(.init(metadata: random.chance(50) ? payload(&random) : nil,
                               requestID: random.chance(50) ? random.pick(["r", "0b7b7d9e-6b5a-4b8f"]) : nil,
                               cancellation: cancellation(&random), leaseTTL: leaseTTL(&random)))
        case 1: .progressed(metadata: random.chance(70) ? payload(&random) : nil)
        case 2: .cancelRequested(reason: random.pick(strings), graceDeadline: random.chance(50) ? time(&random) : nil)
        case 3: .completed(outcome(&random))
        case 4: .deleted
        case 5: .expired
        case 6: .holdSet(reason: random.pick(strings))
        case 7: .repaired(detail: random.pick(strings))
        case 8: .leaseRenewed
        case 9: .adopted(leaseTTL: leaseTTL(&random))
        default: .holdReleased(reason: random.pick(strings))
        }
    }

    static func leaseTTL(_ random: inout SplitMix64) -> Duration? {
        random.chance(50) ? random.pick([Duration.seconds(1), .milliseconds(1500), .seconds(86_400), .nanoseconds(-3)]) : nil
    }

    static func event(_ random: inout SplitMix64) -> Event {
        Event(sequence: random.pick([0, 1, 1 << 40, .max]), time: time(&random), name: random.pick(names),
              actor: actor(&random), kind: kind(&random))
    }

    /// A state reached by folding a random history, as the views hold it.
    static func state(_ random: inout SplitMix64) -> OperationState {
        let name = random.pick(names)
        var state: OperationState = Lifecycle.apply(nil, Event(sequence: 1, time: time(&random), name: name, actor: actor(&random),
                                               kind: .created(.init(metadata: payload(&random), requestID: random.chance(50) ? "r" : nil,
                                                                    cancellation: cancellation(&random), leaseTTL: leaseTTL(&random)))))!
        for sequence in 2..<UInt64.random(in: 2...6, using: &random) {
            state = Lifecycle.apply(state, Event(sequence: sequence, time: time(&random), name: name, actor: actor(&random), kind: kind(&random))) ?? state
        }
        return state
    }
}

// MARK: - Damage

/// One to three of: bit flips, truncation, insertion, deletion, random bytes, and a varint (often a
/// length) replaced by a huge value.
private func damage(_ bytes: [UInt8], _ random: inout SplitMix64) -> [UInt8] {
    var bytes = bytes
    for _ in 0..<Int.random(in: 1...3, using: &random) {
        let index = Int.random(in: 0...bytes.count, using: &random)
        switch Int.random(in: 0..<7, using: &random) {
        case 0 where index < bytes.count: bytes[index] ^= 1 << UInt8.random(in: 0..<8, using: &random)
        case 1: bytes.removeSubrange(index...)
        case 2: bytes.insert(contentsOf: random.bytes(1...8), at: index)
        case 3 where index < bytes.count: bytes.removeSubrange(index..<min(bytes.count, index + Int.random(in: 1...8, using: &random)))
        case 4 where index < bytes.count: bytes[index] = UInt8.random(in: 0...255, using: &random)
        case 5 where index < bytes.count:
            // Overwrite the varint starting here with a huge one: a length that runs far past the end.
            var end = index
            while end < bytes.count, bytes[end] & 0x80 != 0 { end += 1 }
            let huge = random.pick([UInt64.max, UInt64(Int.max), UInt64(UInt32.max), 1 << 35, UInt64(bytes.count)])
            var encoded: [UInt8] = []
            var value = huge
            while value >= 0x80 { encoded.append(UInt8(truncatingIfNeeded: value) | 0x80); value >>= 7 }
            encoded.append(UInt8(value))
            bytes.replaceSubrange(index..<min(bytes.count, end + 1), with: encoded)
        default: bytes = random.bytes(0...64)
        }
    }
    return bytes
}

@Suite("Fuzz properties: record decoding")
struct DecodingFuzzTests {
    @Test func everyValidEventRoundTrips() {
        FuzzRun.run(11) { random in
            let event = Values.event(&random)
            let decoded = try? RecordCodec.encode(event).withUnsafeBytes { try RecordCodec.decodeEvent($0) }
            if decoded != event { Issue.record("\(event) decodes as \(String(describing: decoded)); \(FuzzRun.reproduce)") }
        }
    }

    @Test func everyFoldedStateRoundTrips() {
        FuzzRun.run(12) { random in
            let state = Values.state(&random)
            let decoded = try? RecordCodec.encode(state).withUnsafeBytes { try RecordCodec.decodeState($0) }
            if decoded != state { Issue.record("\(state) decodes as \(String(describing: decoded)); \(FuzzRun.reproduce)") }
        }
    }

    @Test func damagedEventsThrowOrRoundTrip() {
        FuzzRun.run(13) { random in
            let bytes = damage(RecordCodec.encode(Values.event(&random)), &random)
            if let violation = RecordProperties.eventViolation(bytes) ?? RecordProperties.stateViolation(bytes) {
                Issue.record("\(bytes): \(violation); \(FuzzRun.reproduce)")
            }
        }
    }

    @Test func damagedStatesThrowOrRoundTrip() {
        FuzzRun.run(14) { random in
            let bytes = damage(RecordCodec.encode(Values.state(&random)), &random)
            if let violation = RecordProperties.stateViolation(bytes) ?? RecordProperties.eventViolation(bytes) {
                Issue.record("\(bytes): \(violation); \(FuzzRun.reproduce)")
            }
        }
    }

    @Test func logValuesSplitIntoChecksumHashAndRecord() {
        FuzzRun.run(15) { random in
            let record = random.chance(50) ? RecordCodec.encode(Values.event(&random)) : random.bytes(0...80)
            let previous = ChainHash(bytes: random.bytes(32...32))
            let sequence = random.next() % 1_000_000 + 1
            let (value, hash) = LogEntry.make(sequence: sequence, previous: previous, record: record)
            value.withUnsafeBytes { buffer in
                let split = LogEntry.split(buffer)
                if record.isEmpty {
                    #expect(split == nil && (try? LogEntry.open(buffer, sequence: sequence)) == nil)
                } else {
                    #expect(split?.hash == hash && split.map { Array($0.record) } == record)
                    #expect((try? LogEntry.open(buffer, sequence: sequence)).map { Array($0.record) } == record)
                    // Under another sequence the checksum does not hold: a moved event is caught.
                    #expect((try? LogEntry.open(buffer, sequence: sequence + 1)) == nil)
                }
                #expect(hash == record.withUnsafeBytes { previous.next(record: $0) })
            }
            let damaged = damage(value, &random)
            if let violation = RecordProperties.logValueViolation(damaged) { Issue.record("\(damaged): \(violation); \(FuzzRun.reproduce)") }
            damaged.withUnsafeBytes { buffer in
                let split = LogEntry.split(buffer)
                #expect((split != nil) == (damaged.count > LogEntry.headerCount), "\(damaged.count) bytes; \(FuzzRun.reproduce)")
                if let split {
                    #expect(split.hash.bytes == Array(damaged.dropFirst(4).prefix(32)) && Array(split.record) == Array(damaged.dropFirst(LogEntry.headerCount)))
                }
                // Damage never passes the checksum.
                if damaged != value {
                    #expect((try? LogEntry.open(buffer, sequence: sequence)) == nil, "\(FuzzRun.reproduce)")
                }
            }
        }
    }

    /// Found by damagedStatesThrowOrRoundTrip: a record whose request id field is present but empty
    /// decoded as `requestID: ""`, which encodes as no field and so came back as nil.
    @Test func anEmptyRequestIDIsNone() throws {
        let name = try OperationName(parsing: "operations/a")
        var created = WireWriter()
        created.string(2, "", always: true)
        var event = WireWriter()
        event.uint(1, RecordCodec.formatVersion)
        event.string(4, name.description)
        event.bytes(10, created.bytes, always: true) // a nested message: its bytes, length-prefixed
        let decoded = try event.bytes.withUnsafeBytes { try RecordCodec.decodeEvent($0) }
        #expect(decoded.kind == .created(.init(requestID: nil)))
        #expect(RecordProperties.eventViolation(event.bytes) == nil)

        var state = WireWriter()
        state.uint(1, RecordCodec.formatVersion)
        state.string(2, name.description)
        state.string(10, "", always: true)
        #expect(try state.bytes.withUnsafeBytes { try RecordCodec.decodeState($0) }.requestID == nil)
        #expect(RecordProperties.stateViolation(state.bytes) == nil)
    }

    /// Writes the libFuzzer seed corpus (Tools/fuzz/corpus/event-codec) when LONGRUN_FUZZ_WRITE_CORPUS
    /// names the corpus directory: encodings from the real encoder, every event kind and state shape.
    @Test func writeSeedCorpusWhenAsked() throws {
        guard let directory = FuzzRun.environment["LONGRUN_FUZZ_WRITE_CORPUS"] else { return }
        let target = directory + "/event-codec"
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        var random = SplitMix64(seed: 0x5EED)
        for index in 0..<48 {
            let bytes = index < 32 ? RecordCodec.encode(Values.event(&random)) : RecordCodec.encode(Values.state(&random))
            let value = index % 8 == 0 ? LogEntry.make(sequence: UInt64(index + 1), previous: .genesis, record: bytes).value : bytes
            try Data(value).write(to: URL(fileURLWithPath: "\(target)/seed-\(index)"))
        }
    }
}
