/// The options a command gets from its config file and environment, layered under its command
/// line: command line > environment > file > the option's default.
///
/// The merge happens on arguments: each option whose winning value comes from the environment or
/// the file becomes `--name value` ahead of the real command line, so that ArgumentParser and the
/// command check it exactly as they check the flag; ``attribute(_:)`` then rewrites what they say
/// about `--name` to name the file and line or the variable.
public struct LayeredConfiguration: Sendable {
    /// The arguments to parse: the file's and environment's winners, then the command line.
    public var arguments: [String]
    /// Where each option's value comes from (``ConfigSource/defaultValue`` for those set nowhere).
    public var sources: [String: ConfigSource]
    /// The options, in declaration order.
    public var options: [ConfigOption]

    /// - Parameters:
    ///   - file: the config file's path and entries, if one is read.
    ///   - environment: the process environment.
    ///   - prefix: names the variables: `LONGRUND_` + the key in upper snake case. Any other
    ///     variable with this prefix is an error, so that a misspelt one is not silently ignored.
    ///   - aliases: older variables per key, consulted after the prefixed one.
    ///   - ignoredVariables: variables with the prefix that are not options (and not errors).
    public static func resolve(
        options: [ConfigOption],
        commandLine: [String],
        file: (path: String, entries: [ConfigEntry])?,
        environment: [String: String],
        prefix: String,
        aliases: [String: [String]] = [:],
        ignoredVariables: Set<String> = []
    ) throws(ConfigError) -> LayeredConfiguration {
        let byName = Dictionary(options.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        var fileValues: [String: ConfigEntry] = [:]
        if let file {
            for entry in file.entries {
                guard let option = byName[entry.key] else {
                    throw ConfigError("config file \(file.path) line \(entry.line): unknown key \(entry.key) (keys are longrund's long options: \(options.map(\.name).joined(separator: ", ")))")
                }
                try check(entry.value, for: option, source: "config file \(file.path) line \(entry.line)")
                fileValues[entry.key] = entry
            }
        }
        let variableNames = Set(options.map { variable(prefix, $0.name) })
        for name in environment.keys.sorted() where name.hasPrefix(prefix) && !variableNames.contains(name) && !ignoredVariables.contains(name) {
            throw ConfigError("environment \(name): unknown variable (longrund reads \(prefix)<OPTION> for each long option, e.g. \(variable(prefix, options.first?.name ?? "data-dir")))")
        }
        let given = commandLineOptions(commandLine)
        var arguments: [String] = []
        var sources: [String: ConfigSource] = [:]
        for option in options {
            if given.contains(option.name) {
                sources[option.name] = .commandLine
                continue
            }
            let candidates = [variable(prefix, option.name)] + (aliases[option.name] ?? [])
            if let name = candidates.first(where: { !(environment[$0] ?? "").isEmpty }), let text = environment[name] {
                let value = try parseEnvironment(text, for: option, variable: name)
                sources[option.name] = .environment(variable: name)
                arguments += argumentsFor(option, value)
            } else if let entry = fileValues[option.name], let file {
                sources[option.name] = .file(path: file.path, line: entry.line)
                arguments += argumentsFor(option, entry.value)
            } else {
                sources[option.name] = .defaultValue
            }
        }
        return LayeredConfiguration(arguments: arguments + commandLine, sources: sources, options: options)
    }

    /// `sync-interval` → `LONGRUND_SYNC_INTERVAL`.
    public static func variable(_ prefix: String, _ key: String) -> String {
        prefix + key.uppercased().map { $0 == "-" ? "_" : $0 }.map(String.init).joined()
    }

    /// Rewrites a message about `--name` when that option's value came from the file or the
    /// environment: `--sync-interval: not a positive duration` becomes
    /// `config file F line 3: sync-interval: not a positive duration`.
    public func attribute(_ message: String) -> String {
        var rewritten = message
        var prefixes: [String] = []
        for option in options.sorted(by: { $0.name.count > $1.name.count }) {
            guard let source = sources[option.name], source != .commandLine, source != .defaultValue else { continue }
            let flag = "--" + option.name
            guard rewritten.contains(flag) else { continue }
            rewritten = rewritten.replacing(flag + " <\(option.name)>", with: option.name).replacing(flag, with: option.name)
            prefixes.append(source.description)
        }
        return prefixes.isEmpty ? message : prefixes.joined(separator: ", ") + ": " + rewritten
    }

    /// Options named on the command line (`--name`, `--name=value`, `--no-name`), up to `--`.
    static func commandLineOptions(_ arguments: [String]) -> Set<String> {
        var names = Set<String>()
        for argument in arguments {
            if argument == "--" { break }
            guard argument.hasPrefix("--") else { continue }
            let name = String(argument.dropFirst(2).prefix { $0 != "=" })
            names.insert(name)
            if name.hasPrefix("no-") { names.insert(String(name.dropFirst(3))) }
        }
        return names
    }

    static func check(_ value: ConfigValue, for option: ConfigOption, source: String) throws(ConfigError) {
        switch (option.kind, value) {
        case (.string(let choices), .string(let text)):
            if let choices, !choices.contains(text) {
                throw ConfigError("\(source): \(option.name): \(text) is not one of \(choices.joined(separator: ", "))")
            }
        case (.integer, .integer), (.boolean, .boolean):
            return
        default:
            throw ConfigError("\(source): \(option.name): expected \(expected(option.kind)), found \(value.typeName) (\(value))")
        }
    }

    static func expected(_ kind: ConfigKind) -> String {
        switch kind {
        case .string(let choices): return choices.map { "a string (\($0.joined(separator: ", ")))" } ?? "a string"
        case .integer: return "an integer"
        case .boolean: return "a boolean (true or false)"
        }
    }

    static func parseEnvironment(_ text: String, for option: ConfigOption, variable: String) throws(ConfigError) -> ConfigValue {
        let value: ConfigValue
        switch option.kind {
        case .string: value = .string(text)
        case .integer:
            guard let number = Int64(text.filter { $0 != "_" }) else { throw ConfigError("environment \(variable): \(option.name): expected an integer, found \(text)") }
            value = .integer(number)
        case .boolean:
            switch text.lowercased() {
            case "true", "1", "yes": value = .boolean(true)
            case "false", "0", "no": value = .boolean(false)
            default: throw ConfigError("environment \(variable): \(option.name): expected true or false, found \(text)")
            }
        }
        try check(value, for: option, source: "environment \(variable)")
        return value
    }

    static func argumentsFor(_ option: ConfigOption, _ value: ConfigValue) -> [String] {
        switch value {
        case .boolean(let on): return on ? ["--" + option.name] : []
        case .integer(let number): return ["--\(option.name)=\(number)"]
        case .string(let text): return ["--\(option.name)=\(text)"]
        }
    }
}
