import Testing
@testable import LongrundConfig

@Suite struct FlatTOMLTests {
    @Test func readsStringsIntegersBooleansAndComments() throws {
        let text = """
            # a comment
            data-dir = "/var/lib/longrun"   # trailing comment
            socket-mode = '0660'
            max-waits-per-peer = 16_384
            snapshot-every = 0x10
            owner-only = true
            "quoted-key" = "tab\\there \\u00e9"

            """
        let entries = try FlatTOML.parse(text, path: "f.toml")
        #expect(entries.map(\.key) == ["data-dir", "socket-mode", "max-waits-per-peer", "snapshot-every", "owner-only", "quoted-key"])
        #expect(entries.map(\.value) == [
            .string("/var/lib/longrun"), .string("0660"), .integer(16_384), .integer(16), .boolean(true), .string("tab\there é"),
        ])
        #expect(entries.map(\.line) == [2, 3, 4, 5, 6, 7])
    }

    @Test func acceptsCRLFLines() throws {
        let entries = try FlatTOML.parse("a = 1\r\nb = \"x\"\r\n", path: "f")
        #expect(entries.map(\.value) == [.integer(1), .string("x")])
    }

    @Test(arguments: [
        ("[server]", "tables ([...]) are not used"),
        ("a.b = 1", "a: dotted keys"),
        ("a = 1.5", "a: not a TOML string, integer or boolean: 1.5"),
        ("a = [1]", "found an array"),
        ("a = {b = 1}", "found an inline table"),
        ("a = \"\"\"x\"\"\"", "multi-line strings"),
        ("a = \"open", "unterminated string"),
        ("a = 0660", "not a TOML string, integer or boolean: 0660"),
        ("a = \"x\" y", "unexpected text after the value"),
        ("a 1", "expected = after the key"),
        ("= 1", "expected a key"),
        ("a = \"\\q\"", "invalid escape"),
        ("a = ", "missing value"),
    ])
    func refusesWhatNoOptionTakes(line: String, message: String) {
        #expect {
            try FlatTOML.parse("# first\n" + line, path: "/etc/x.toml")
        } throws: { error in
            let text = (error as? ConfigError)?.message ?? ""
            return text.hasPrefix("config file /etc/x.toml line 2: ") && text.contains(message)
        }
    }

    @Test func duplicateKeyNamesBothLines() {
        #expect(throws: ConfigError("config file f line 3: a: set twice (first on line 1)")) {
            try FlatTOML.parse("a = 1\n\na = 2", path: "f")
        }
    }

    @Test func integersFollowTOML() {
        #expect(Scanner.integer("+5") == 5)
        #expect(Scanner.integer("-9_223_372_036_854_775_808") == Int64.min)
        #expect(Scanner.integer("0") == 0)
        #expect(Scanner.integer("0o755") == 0o755)
        #expect(Scanner.integer("0b101") == 5)
        #expect(Scanner.integer("1__0") == nil)
        #expect(Scanner.integer("_1") == nil)
        #expect(Scanner.integer("9223372036854775808") == nil)
        #expect(Scanner.integer("-0x1") == nil)
    }

    @Test func stringsRoundTripThroughTheRenderer() throws {
        let tricky = "a\"b\\c\nd\u{01}é"
        let entries = try FlatTOML.parse("k = \(ConfigValue.string(tricky))", path: "f")
        #expect(entries.first?.value == .string(tricky))
    }
}
