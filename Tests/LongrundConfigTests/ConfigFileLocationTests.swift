import Testing
@testable import LongrundConfig

@Suite struct ConfigFileLocationTests {
    func resolve(_ given: String? = nil, uid: UInt32 = 1000, env environment: [String: String] = [:], existing: Set<String> = []) -> String? {
        ConfigFileLocation.resolve(given: given, uid: uid, environment: { environment[$0] }, fileExists: { existing.contains($0) })?.path
    }

    @Test func flagThenVariableThenDefaults() {
        #expect(resolve("/a.toml", env: ["LONGRUN_CONFIG": "/b.toml"]) == "/a.toml")
        #expect(resolve(nil, env: ["LONGRUN_CONFIG": "/b.toml"]) == "/b.toml")
        #expect(resolve(uid: 0, existing: ["/etc/longrun/longrund.toml"]) == "/etc/longrun/longrund.toml")
        #expect(resolve(uid: 0) == nil)
        #expect(resolve(env: ["HOME": "/home/u"], existing: ["/home/u/.config/longrun/longrund.toml"]) == "/home/u/.config/longrun/longrund.toml")
        #expect(resolve(env: ["HOME": "/home/u", "XDG_CONFIG_HOME": "/x"], existing: ["/x/longrun/longrund.toml"]) == "/x/longrun/longrund.toml")
        #expect(resolve(env: ["HOME": "/home/u"], existing: ["/etc/longrun/longrund.toml"]) == nil)
    }

    @Test func explicitFileMustBeReadable() {
        #expect(throws: ConfigError.self) { try ConfigFileLocation.read("/nonexistent/longrund.toml") }
    }
}
