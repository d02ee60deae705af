import LongrunDomain
@testable import LongrunStore
import LongrunTestSupport
import Testing

@Suite("Record codec")
struct RecordCodecTests {
    static let name = try! OperationName(parsing: "tenants/acme/operations/build-7")
    static let actor = Actor(uid: 0, pid: -1, label: "ünïcode label")
    static let payload = Payload(typeURL: "type.googleapis.com/acme.Meta", value: [0, 1, 2, 255])

    static let kinds: [Event.Kind] = [
        .created(.init()),
        .created(.init(metadata: payload, requestID: "req-1", cancellation: .immediate)),
        .created(.init(cancellation: .cooperative(grace: .milliseconds(1500)))),
        .created(.init(cancellation: .cooperative(grace: .zero))),
        .progressed(metadata: nil),
        .progressed(metadata: Payload(typeURL: "", value: [])),
        .cancelRequested(reason: "", graceDeadline: nil),
        .cancelRequested(reason: "because", graceDeadline: Timestamp(nanosecondsSinceEpoch: -5)),
        .completed(.response(payload)),
        .completed(.error(Status(code: 1, message: "cancelled", details: [payload, payload]))),
        .completed(.error(Status(code: -7, message: ""))),
        .deleted,
    ]

    @Test(arguments: kinds)
    func eventsRoundTrip(_ kind: Event.Kind) throws {
        for actor in [Self.actor, Actor(), .engine, Actor(uid: 7, pid: 8, label: "w", host: "build-3.example")] {
            let event = Event(sequence: 1 << 40, time: Timestamp(nanosecondsSinceEpoch: -1_234_567_891), name: Self.name, actor: actor, kind: kind)
            let bytes = RecordCodec.encode(event)
            let decoded = try bytes.withUnsafeBytes { try RecordCodec.decodeEvent($0) }
            #expect(decoded == event)
        }
    }

    @Test func statesRoundTripThroughEveryLifecycleStep() throws {
        var state: OperationState?
        for (index, kind) in [Event.Kind.created(.init(metadata: Self.payload, requestID: "r")),
                              .progressed(metadata: Self.payload),
                              .cancelRequested(reason: "x", graceDeadline: Timestamp(seconds: 99)),
                              .completed(.error(Status(.cancelled, "gone"))),
                              .deleted].enumerated() {
            state = Lifecycle.apply(state, Event(sequence: UInt64(index + 1), time: Timestamp(seconds: Int64(index)), name: Self.name, actor: Self.actor, kind: kind))
            let bytes = RecordCodec.encode(state!)
            #expect(try bytes.withUnsafeBytes { try RecordCodec.decodeState($0) } == state)
        }
    }

    /// A wildcard page's scan reads a record's name and whether it is done from its first fields:
    /// the same as the whole record decoded, at every step of a life, with payloads of every size.
    @Test func aRecordsHeadSaysItsNameAndWhetherItIsDoneAsTheWholeRecordDoes() throws {
        for metadata in [nil, Self.payload, Payload(typeURL: "t/big", value: [UInt8](repeating: 9, count: 300))] {
            var state: OperationState?
            for (index, kind) in [Event.Kind.created(.init(metadata: metadata)), .progressed(metadata: metadata),
                                  .completed(.response(Self.payload))].enumerated() {
                state = Lifecycle.apply(state, Event(sequence: UInt64(index + 1), time: Timestamp(seconds: 1), name: Self.name, actor: Self.actor, kind: kind))
                let bytes = RecordCodec.encode(state!)
                let head = try bytes.withUnsafeBytes { bytes in
                    let head = try RecordCodec.stateHead(bytes)
                    return (String(decoding: head.name, as: UTF8.self), head.done)
                }
                #expect(head.0 == Self.name.description)
                #expect(head.1 == state!.done)
            }
        }
        #expect(throws: CodecError.self) { try [0x08, 0x01].withUnsafeBytes { try RecordCodec.stateHead($0) } }
    }

    @Test func sharedStringsDecodeTheSameRecordsAsFreshOnes() throws {
        // More distinct type URLs than the cache holds, each met twice, so entries are evicted and
        // met again; URLs of up to 15 bytes bypass it.
        let urls = (0..<20).map { "type.googleapis.com/acme.Meta\($0)" } + ["t/short", ""]
        let strings = RecordStrings()
        for url in urls + urls.reversed() {
            var state = try #require(Lifecycle.apply(nil, Event(sequence: 1, time: Timestamp(seconds: 1), name: Self.name,
                                                                actor: Actor(uid: 1, pid: 2, label: "producer on build host", host: url.isEmpty ? nil : url),
                                                                kind: .created(.init(metadata: Payload(typeURL: url, value: [1]))))))
            state.outcome = .error(Status(code: 2, message: "m", details: [Payload(typeURL: url + "x", value: [])]))
            let bytes = RecordCodec.encode(state)
            #expect(try bytes.withUnsafeBytes { try RecordCodec.decodeState($0, strings: strings) } == state)
            let event = Event(sequence: 9, time: Timestamp(seconds: 2), name: Self.name, actor: Actor(label: url),
                              kind: .progressed(metadata: Payload(typeURL: url, value: [2])))
            let eventBytes = RecordCodec.encode(event)
            #expect(try eventBytes.withUnsafeBytes { try RecordCodec.decodeEvent($0, strings: strings) { _ in Self.name } } == event)
        }
    }

    @Test func unknownFieldsAreSkippedSoNewerWritersStayReadable() throws {
        var bytes = RecordCodec.encode(Event(sequence: 3, time: Timestamp(seconds: 1), name: Self.name, actor: Self.actor, kind: .deleted))
        // field 99, length-delimited, 3 bytes; field 98 varint
        bytes += [0x9A, 0x06, 3, 1, 2, 3, 0x90, 0x06, 0x7F]
        let decoded = try bytes.withUnsafeBytes { try RecordCodec.decodeEvent($0) }
        #expect(decoded.kind == .deleted)
        #expect(decoded.sequence == 3)
    }

    @Test func anUnknownFormatVersionIsRefused() {
        var writer = WireWriter()
        writer.uint(1, 2)
        writer.string(4, Self.name.description)
        writer.message(14) { _ in }
        #expect {
            try writer.bytes.withUnsafeBytes { try RecordCodec.decodeEvent($0) }
        } throws: { ($0 as? CodecError)?.message.contains("version 2") == true }
    }

    /// A log entry whose record claims another sequence than its key is refused (replay and the
    /// log readers pass the key's sequence to the decoder, which checks it before building the event).
    @Test func anEventClaimingAnotherSequenceIsRefused() throws {
        let directory = TemporaryDirectory()
        let store = try Store(directory: directory.path, logger: Fixtures.quietLogger)
        for kind in Self.kinds {
            let event = Event(sequence: 41, time: Timestamp(seconds: 1), name: Self.name, actor: Self.actor, kind: kind)
            let bytes = RecordCodec.encode(event)
            let same = try bytes.withUnsafeBytes { try RecordCodec.decodeEvent($0, strings: nil, expectedSequence: 41, resolveName: RecordCodec.eventName) }
            #expect(same == event)
            #expect {
                try bytes.withUnsafeBytes { try RecordCodec.decodeEvent($0, strings: nil, expectedSequence: 42, resolveName: RecordCodec.eventName) }
            } throws: { ($0 as? CodecError)?.message == "it claims sequence 41" }
            // Through the log's reader, as a damaged view of the log (data loss naming the sequence).
            let value = LogEntry.make(sequence: 42, previous: .genesis, record: bytes).value
            #expect {
                try value.withUnsafeBytes { value in try store.read { try $0.decodeEvent(value, sequence: 42) } }
            } throws: { "\($0)".contains("log event 42 cannot be decoded (it claims sequence 41)") }
        }
    }

    @Test func everyTruncationOfARecordFailsCleanly() {
        let bytes = RecordCodec.encode(Event(sequence: 9, time: Timestamp(seconds: 1), name: Self.name, actor: Self.actor,
                                             kind: .completed(.error(Status(code: 3, message: "bad", details: [Self.payload])))))
        for length in 0..<bytes.count {
            let prefix = Array(bytes[0..<length])
            let result = Result { try prefix.withUnsafeBytes { try RecordCodec.decodeEvent($0) } }
            // A prefix may decode only if it happens to end at a field boundary with everything required present.
            if case .success(let event) = result { #expect(event.sequence == 9) }
        }
    }

    @Test func randomBytesNeverCrashTheDecoder() {
        var generator = SplitMix64(seed: 0x5EED)
        for _ in 0..<20_000 {
            let count = Int(generator.next() % 64)
            let bytes = (0..<count).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            _ = try? bytes.withUnsafeBytes { try RecordCodec.decodeEvent($0) }
            _ = try? bytes.withUnsafeBytes { try RecordCodec.decodeState($0) }
        }
    }
}

