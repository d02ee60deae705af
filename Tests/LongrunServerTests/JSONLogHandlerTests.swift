import Foundation
import Logging
import LongrunDomain
import LongrunServer
import Synchronization
import Testing

@Suite("JSON log lines")
struct JSONLogHandlerTests {
    /// What a handler wrote.
    final class Lines: Sendable {
        let written = Mutex<[String]>([])
        func append(_ line: String) { written.withLock { $0.append(line) } }
        var all: [String] { written.withLock { $0 } }
    }

    /// A logger whose lines land in `lines`.
    func logger(_ lines: Lines) -> Logger {
        Logger(label: "longrund") { label in
            JSONLogHandler(label: label, now: { Timestamp(seconds: 1_800_000_000) }) { line in lines.append(line) }
        }
    }

    @Test func everyLineIsOneJSONObjectWithTheMetadataAsFields() throws {
        let lines = Lines()
        var log = logger(lines)
        log[metadataKey: "data_dir"] = "/var/lib/longrun"
        log.notice("serving \"quoted\"\nand a second line\u{01}", metadata: [
            "socket": "/run/longrun/longrund.sock",
            "nested": ["b": "2", "a": ["x", "y"]],
            "count": .stringConvertible(42),
        ])
        let written = lines.all
        #expect(written.count == 1)
        #expect(written[0].hasSuffix("}\n") && written[0].filter { $0 == "\n" }.count == 1)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(written[0].utf8)) as? [String: Any])
        #expect(object["time"] as? String == "2027-01-15T08:00:00Z")
        #expect(object["level"] as? String == "notice")
        #expect(object["label"] as? String == "longrund")
        #expect(object["message"] as? String == "serving \"quoted\"\nand a second line\u{01}")
        #expect(object["socket"] as? String == "/run/longrun/longrund.sock")
        #expect(object["data_dir"] as? String == "/var/lib/longrun")
        #expect(object["count"] as? String == "42")
        let nested = try #require(object["nested"] as? [String: Any])
        #expect(nested["b"] as? String == "2" && nested["a"] as? [String] == ["x", "y"])
    }

    @Test func theSameEventPrintsTheSameLine() {
        let lines = Lines()
        let log = logger(lines)
        for _ in 0..<2 { log.info("rpc", metadata: ["method": "a", "code": "OK", "zeta": "z", "alpha": "a", "uid": "0"]) }
        let written = lines.all
        #expect(written[0] == written[1])
        #expect(written[0].contains(#""alpha":"a","code":"OK","method":"a","uid":"0","zeta":"z""#))
    }

    @Test func belowItsLevelNothingIsWritten() {
        let lines = Lines()
        var log = logger(lines)
        log.logLevel = .info
        log.debug("quiet")
        #expect(lines.all.isEmpty)
    }
}
