/// A value in the config file or the environment. Only the three types longrund's options need:
/// every option is a string (paths, durations, sizes, modes, choices), an integer, or a boolean flag.
public enum ConfigValue: Equatable, Sendable, CustomStringConvertible {
    case string(String)
    case integer(Int64)
    case boolean(Bool)

    /// The TOML spelling, as `--print-config` writes it back.
    public var description: String {
        switch self {
        case .string(let text): return TOMLString.quoted(text)
        case .integer(let number): return String(number)
        case .boolean(let flag): return String(flag)
        }
    }

    var typeName: String {
        switch self {
        case .string: return "a string"
        case .integer: return "an integer"
        case .boolean: return "a boolean"
        }
    }
}

/// Where an option's effective value came from, so that errors and `--print-config` can say so.
public enum ConfigSource: Equatable, Sendable, CustomStringConvertible {
    case commandLine
    case environment(variable: String)
    case file(path: String, line: Int)
    case defaultValue

    /// Names the source as an error message's prefix does: `config file /etc/x.toml line 3`.
    public var description: String {
        switch self {
        case .commandLine: return "command line"
        case .environment(let variable): return "environment \(variable)"
        case .file(let path, let line): return "config file \(path) line \(line)"
        case .defaultValue: return "default"
        }
    }
}

/// A configuration mistake, worded for the operator: it names the file (and line) or the
/// environment variable, and the key.
public struct ConfigError: Error, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// TOML basic-string quoting, shared by the renderer and ``ConfigValue``.
enum TOMLString {
    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    let hex = String(scalar.value, radix: 16, uppercase: true)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}
