import ArgumentParser
import Testing
@testable import LongrundConfig

/// A command shaped like longrund: every kind of option it has.
struct Sample: ParsableCommand {
    @Option var config: String?
    @Option var dataDir: String?
    @Option var socket: String?
    @Option var socketMode: String = "0660"
    @Flag var ownerOnly = false
    @Option var maxWaitsPerPeer: Int = 16_384
    @Option var snapshotEvery: UInt64 = 100_000
    @Option var durability: Durability = .full
    @Option var syncInterval: String = "1s"

    enum Durability: String, ExpressibleByArgument, CaseIterable { case full, relaxed }
}

@Suite struct LayeredConfigurationTests {
    let options = OptionReflection.options(of: Sample.self, excluding: ["config"])

    func layered(_ commandLine: [String] = [], file: String? = nil, environment: [String: String] = [:]) throws -> LayeredConfiguration {
        let entries = try file.map { try FlatTOML.parse($0, path: "/etc/l.toml") }
        return try LayeredConfiguration.resolve(
            options: options, commandLine: commandLine, file: entries.map { ("/etc/l.toml", $0) },
            environment: environment, prefix: "LONGRUND_", aliases: ["data-dir": ["LONGRUN_DATA_DIR"]])
    }

    func parsed(_ layered: LayeredConfiguration) throws -> Sample { try Sample.parse(layered.arguments) }

    @Test func keysAreTheFlagsWithTheirKinds() {
        #expect(options == [
            ConfigOption(name: "data-dir", kind: .string(choices: nil)),
            ConfigOption(name: "socket", kind: .string(choices: nil)),
            ConfigOption(name: "socket-mode", kind: .string(choices: nil)),
            ConfigOption(name: "owner-only", kind: .boolean),
            ConfigOption(name: "max-waits-per-peer", kind: .integer),
            ConfigOption(name: "snapshot-every", kind: .integer),
            ConfigOption(name: "durability", kind: .string(choices: ["full", "relaxed"])),
            ConfigOption(name: "sync-interval", kind: .string(choices: nil)),
        ])
    }

    @Test func everyKeyIsAcceptedAndReachesItsOption() throws {
        let file = """
            data-dir = "/d"
            socket = "/s.sock"
            socket-mode = "0600"
            owner-only = true
            max-waits-per-peer = 7
            snapshot-every = 0
            durability = "relaxed"
            sync-interval = "200ms"
            """
        let sample = try parsed(try layered(file: file))
        #expect(sample.dataDir == "/d")
        #expect(sample.socket == "/s.sock")
        #expect(sample.socketMode == "0600")
        #expect(sample.ownerOnly)
        #expect(sample.maxWaitsPerPeer == 7)
        #expect(sample.snapshotEvery == 0)
        #expect(sample.durability == .relaxed)
        #expect(sample.syncInterval == "200ms")
    }

    @Test func flagBeatsEnvironmentBeatsFileBeatsDefault() throws {
        let file = "sync-interval = \"3s\"\nsocket-mode = \"0600\"\nmax-waits-per-peer = 5"
        let environment = ["LONGRUND_SYNC_INTERVAL": "2s", "LONGRUND_MAX_WAITS_PER_PEER": "6"]
        let config = try layered(["--sync-interval", "1500ms"], file: file, environment: environment)
        let sample = try parsed(config)
        #expect(sample.syncInterval == "1500ms")
        #expect(sample.maxWaitsPerPeer == 6)
        #expect(sample.socketMode == "0600")
        #expect(sample.snapshotEvery == 100_000)
        #expect(config.sources["sync-interval"] == .commandLine)
        #expect(config.sources["max-waits-per-peer"] == .environment(variable: "LONGRUND_MAX_WAITS_PER_PEER"))
        #expect(config.sources["socket-mode"] == .file(path: "/etc/l.toml", line: 2))
        #expect(config.sources["snapshot-every"] == .defaultValue)
    }

    @Test func equalsFormOnTheCommandLineCountsAsGiven() throws {
        let sample = try parsed(try layered(["--socket-mode=0640"], file: "socket-mode = \"0600\""))
        #expect(sample.socketMode == "0640")
    }

    @Test func prefixedVariableBeatsItsAlias() throws {
        let both = try parsed(try layered(environment: ["LONGRUND_DATA_DIR": "/new", "LONGRUN_DATA_DIR": "/old"]))
        #expect(both.dataDir == "/new")
        let config = try layered(file: "data-dir = \"/file\"", environment: ["LONGRUN_DATA_DIR": "/old"])
        #expect(try parsed(config).dataDir == "/old")
        #expect(config.sources["data-dir"] == .environment(variable: "LONGRUN_DATA_DIR"))
    }

    @Test func environmentBooleansAndIntegersAreTyped() throws {
        #expect(try parsed(try layered(environment: ["LONGRUND_OWNER_ONLY": "true"])).ownerOnly)
        #expect(try !parsed(try layered(environment: ["LONGRUND_OWNER_ONLY": "0"])).ownerOnly)
        #expect(throws: ConfigError("environment LONGRUND_OWNER_ONLY: owner-only: expected true or false, found maybe")) {
            try layered(environment: ["LONGRUND_OWNER_ONLY": "maybe"])
        }
        #expect(throws: ConfigError("environment LONGRUND_MAX_WAITS_PER_PEER: max-waits-per-peer: expected an integer, found lots")) {
            try layered(environment: ["LONGRUND_MAX_WAITS_PER_PEER": "lots"])
        }
    }

    @Test func unknownKeyIsNamedWithFileAndLine() {
        #expect {
            try layered(file: "socket = \"/s\"\nsync-intreval = \"1s\"")
        } throws: { error in
            (error as? ConfigError)?.message.hasPrefix("config file /etc/l.toml line 2: unknown key sync-intreval (") == true
        }
    }

    @Test func unknownPrefixedVariableIsNamed() {
        #expect {
            try layered(environment: ["LONGRUND_SYNC_INTERVL": "1s", "OTHER": "x"])
        } throws: { error in
            (error as? ConfigError)?.message.hasPrefix("environment LONGRUND_SYNC_INTERVL: unknown variable") == true
        }
    }

    @Test func configOnlyFlagsAreNotKeys() {
        #expect {
            try layered(file: "config = \"/other.toml\"")
        } throws: { error in
            (error as? ConfigError)?.message.contains("unknown key config") == true
        }
    }

    @Test(arguments: [
        ("max-waits-per-peer = \"16\"", "line 1: max-waits-per-peer: expected an integer, found a string (\"16\")"),
        ("sync-interval = 5", "line 1: sync-interval: expected a string, found an integer (5)"),
        ("owner-only = \"yes\"", "line 1: owner-only: expected a boolean (true or false), found a string (\"yes\")"),
        ("durability = \"fast\"", "line 1: durability: fast is not one of full, relaxed"),
    ])
    func wrongTypesAreErrors(line: String, message: String) {
        #expect(throws: ConfigError("config file /etc/l.toml " + message)) { try layered(file: line) }
    }

    @Test func validationMessagesNameTheSource() throws {
        let config = try layered(file: "# x\nsync-interval = \"0s\"", environment: ["LONGRUND_SOCKET_MODE": "999"])
        #expect(config.attribute("--sync-interval: not a positive duration: 0s (try 1s)")
            == "config file /etc/l.toml line 2: sync-interval: not a positive duration: 0s (try 1s)")
        #expect(config.attribute("--socket-mode must be octal permission bits such as 0660")
            == "environment LONGRUND_SOCKET_MODE: socket-mode must be octal permission bits such as 0660")
        // A flag's own error stays as it was.
        #expect(config.attribute("--max-wait: not a duration: x") == "--max-wait: not a duration: x")
    }

    @Test func variableNames() {
        #expect(LayeredConfiguration.variable("LONGRUND_", "sync-interval") == "LONGRUND_SYNC_INTERVAL")
    }

    @Test func flagNamesFollowArgumentParser() {
        #expect(OptionReflection.flagName("maxWaitsPerPeer") == "max-waits-per-peer")
        #expect(OptionReflection.flagName("socket") == "socket")
        #expect(OptionReflection.flagName("compactLogAfter") == "compact-log-after")
    }

    @Test func printedConfigurationNamesSourcesAndReadsBack() throws {
        let config = try layered(["--owner-only"], file: "sync-interval = \"2s\"")
        let sample = try parsed(config)
        let text = EffectiveConfiguration.render(
            options: options, values: OptionReflection.values(of: sample), sources: config.sources, file: "/etc/l.toml")
        #expect(text.contains("sync-interval = \"2s\"  # config file /etc/l.toml line 1\n"))
        #expect(text.contains("owner-only = true  # command line\n"))
        #expect(text.contains("durability = \"full\"  # default\n"))
        #expect(text.contains("max-waits-per-peer = 16384  # default\n"))
        #expect(text.contains("# data-dir is not set  # default\n"))
        // What it prints is a config file the daemon reads.
        let reread = try FlatTOML.parse(text, path: "printed")
        #expect(reread.count == options.count - 2)
    }
}
