import Foundation
import LongrunDomain
import LongrunEngine
import LongrunReplayKit
import LongrunStore
import LongrunTestSupport
import Testing

/// A store with a known history, one second apart from `t0 + 1s` (event N at `t0 + N s`):
///
/// | seq | event |
/// |---|---|
/// | 1 | create `operations/alpha` (metadata "start") |
/// | 2 | create `operations/bravo` |
/// | 3 | progress alpha ("quarter") |
/// | 4 | complete bravo (response) |
/// | 5 | progress alpha ("half") — alpha is running here |
/// | 6 | create `operations/charlie` |
/// | 7 | cancel charlie (reason "stop"; cooperative, grace pending) |
/// | 8 | delete bravo |
/// | 9 | complete alpha (response "done") — alpha is done here |
enum Scenario {
    static let t0 = Timestamp(seconds: 1_800_000_000)
    static let alpha = Fixtures.name("operations/alpha")
    static let bravo = Fixtures.name("operations/bravo")
    static let charlie = Fixtures.name("operations/charlie")
    static let logger = Fixtures.quietLogger

    static func time(ofEvent sequence: Int) -> Timestamp { t0 + .seconds(sequence) }

    /// Writes the history above into `directory` through the engine, and closes it.
    static func populate(_ directory: String) async throws {
        let clock = ManualClock(t0)
        let engine = try Fixtures.openEngine(directory, clock: clock)
        defer { engine.close() }
        func tick() { clock.advance(by: .seconds(1)) }
        tick(); _ = try await engine.create(CreateRequest(id: "alpha", metadata: Fixtures.payload("test.Progress", "start")), actor: Fixtures.producer)
        tick(); _ = try await engine.create(CreateRequest(id: "bravo"), actor: Fixtures.producer)
        tick(); _ = try await engine.progress(alpha, metadata: Fixtures.payload("test.Progress", "quarter"), actor: Fixtures.producer)
        tick(); _ = try await engine.complete(bravo, outcome: .response(Fixtures.payload("test.Result", "bravo")), actor: Fixtures.producer)
        tick(); _ = try await engine.progress(alpha, metadata: Fixtures.payload("test.Progress", "half"), actor: Fixtures.producer)
        tick(); _ = try await engine.create(CreateRequest(id: "charlie"), actor: Fixtures.producer)
        tick(); _ = try await engine.cancel(charlie, reason: "stop", actor: Fixtures.consumer)
        tick(); try await engine.delete(bravo, actor: Fixtures.consumer)
        tick(); _ = try await engine.complete(alpha, outcome: .response(Fixtures.payload("test.Result", "done")), actor: Fixtures.producer)
        #expect(try await engine.appliedSequence() == 9)
    }

    /// Appends `count` more operations (created and completed) to the store in `directory`.
    static func appendMore(_ directory: String, count: Int, prefix: String) async throws {
        let clock = ManualClock(t0 + .seconds(100))
        let engine = try Fixtures.openEngine(directory, clock: clock)
        defer { engine.close() }
        for index in 0..<count {
            clock.advance(by: .seconds(1))
            let name = try await engine.create(CreateRequest(id: "\(prefix)-\(index)"), actor: Fixtures.producer).name
            _ = try await engine.complete(name, outcome: .response(Fixtures.payload("test.Result")), actor: Fixtures.producer)
        }
    }

    /// The store in `directory`, read-only, as the tool opens it.
    static func open(_ directory: String) throws -> Store {
        try ReplaySource.open(directory, logger: logger)
    }
}

/// Flips one bit of the first byte of every occurrence of `needle` in `file` (the store must be
/// closed); returns how many occurrences there were. Stale copies of a page may hold the bytes
/// too, which is harmless: the live one is among them.
@discardableResult
func flipBytes(of needle: String, in file: String, offset: Int = 0) throws -> Int {
    var data = try [UInt8](Data(contentsOf: URL(fileURLWithPath: file)))
    let pattern = Array(needle.utf8)
    var found = 0
    var index = 0
    while index + pattern.count <= data.count {
        if data[index] == pattern[0], Array(data[index..<(index + pattern.count)]) == pattern {
            data[index + offset] ^= 0x01
            found += 1
            index += pattern.count
        } else {
            index += 1
        }
    }
    try Data(data).write(to: URL(fileURLWithPath: file))
    return found
}

/// Flips one bit of the byte at `position` (from the end when negative).
func flipByte(at position: Int, in file: String) throws {
    var data = try [UInt8](Data(contentsOf: URL(fileURLWithPath: file)))
    let index = position >= 0 ? position : data.count + position
    data[index] ^= 0x01
    try Data(data).write(to: URL(fileURLWithPath: file))
}

/// A JSON line as a dictionary.
func object(_ line: String) throws -> [String: Any] {
    try #require(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
}

/// A protobuf JSON uint64 (printed as a string) or a JSON number, as UInt64.
func unsigned(_ value: Any?) -> UInt64? {
    switch value {
    case let text as String: UInt64(text)
    case let number as NSNumber: number.uint64Value
    default: nil
    }
}

/// The sequences of event JSON lines.
func sequences(_ lines: [String]) throws -> [UInt64] {
    try lines.map { try #require(unsigned(object($0)["sequence"])) }
}

func entries(of directory: String) -> [String] {
    (try? FileManager.default.contentsOfDirectory(atPath: directory).sorted()) ?? []
}
