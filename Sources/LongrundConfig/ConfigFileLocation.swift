#if canImport(Glibc)
public import Glibc
#elseif canImport(Musl)
public import Musl
#elseif canImport(Darwin)
public import Darwin
#endif

/// Which config file longrund reads.
public enum ConfigFileLocation {
    /// The system daemon's file.
    public static let systemPath = "/etc/longrun/longrund.toml"

    /// `--config` (`given`), else `$LONGRUN_CONFIG`: that file, which must exist. Otherwise the
    /// default, only if it exists: as root ``systemPath``; for others
    /// `$XDG_CONFIG_HOME/longrun/longrund.toml` (`~/.config/...`). Nil: no file. Pure, for tests.
    public static func resolve(
        given: String?,
        uid: uid_t,
        environment: (String) -> String?,
        fileExists: (String) -> Bool
    ) -> (path: String, explicit: Bool)? {
        func nonEmpty(_ name: String) -> String? {
            guard let value = environment(name), !value.isEmpty else { return nil }
            return value
        }
        if let given, !given.isEmpty { return (given, true) }
        if let variable = nonEmpty("LONGRUN_CONFIG") { return (variable, true) }
        let candidate: String
        if uid == 0 {
            candidate = systemPath
        } else {
            let home = nonEmpty("HOME") ?? "/tmp"
            candidate = (nonEmpty("XDG_CONFIG_HOME") ?? home + "/.config") + "/longrun/longrund.toml"
        }
        return fileExists(candidate) ? (candidate, false) : nil
    }

    /// Reads the whole file as UTF-8; errors name the file.
    public static func read(_ path: String) throws(ConfigError) -> String {
        guard let handle = fopen(path, "rb") else {
            throw ConfigError("config file \(path): cannot read: \(String(cString: strerror(errno)))")
        }
        defer { fclose(handle) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = fread(&buffer, 1, buffer.count, handle)
            if count > 0 { bytes += buffer[0..<count] }
            if count < buffer.count {
                if ferror(handle) != 0 { throw ConfigError("config file \(path): cannot read: \(String(cString: strerror(errno)))") }
                break
            }
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw ConfigError("config file \(path): not UTF-8 text")
        }
        return text
    }

    /// Whether something is at `path` (a directory counts, and is then refused by ``read(_:)``).
    public static func exists(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0
    }
}

/// The process environment as a dictionary (no Foundation in the daemon's config path).
public enum ProcessEnvironment {
    public static var current: [String: String] {
        var variables: [String: String] = [:]
        var cursor = environ
        while let entry = cursor.pointee {
            let text = String(cString: entry)
            if let equals = text.firstIndex(of: "=") {
                variables[String(text[..<equals])] = String(text[text.index(after: equals)...])
            }
            cursor += 1
        }
        return variables
    }
}
