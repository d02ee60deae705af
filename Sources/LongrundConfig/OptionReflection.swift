public import ArgumentParser

/// What a config key takes, read off the option's Swift type.
public enum ConfigKind: Equatable, Sendable {
    /// Text handed to the option as it would be on the command line; `choices` for enums.
    case string(choices: [String]?)
    case integer
    /// A `@Flag var x = false`: `true` passes `--x`.
    case boolean
}

/// One option of the command, as a config key: the flag's long name without the dashes.
public struct ConfigOption: Equatable, Sendable {
    public var name: String
    public var kind: ConfigKind
    public init(name: String, kind: ConfigKind) {
        self.name = name
        self.kind = kind
    }
}

/// Reads a command's options off its ArgumentParser declarations, so that the config keys are the
/// flags by construction: an option added to the command is a config key with no other change.
/// Options with an explicit `name:` are not supported (none of longrund's have one); the tests
/// compare the keys with the flags in `--help`.
public enum OptionReflection {
    /// The command's `@Option`s and Bool `@Flag`s, in declaration order, minus `excluding`.
    public static func options<Command: ParsableArguments>(of command: Command.Type, excluding: Set<String> = []) -> [ConfigOption] {
        Mirror(reflecting: Command()).children.compactMap { child in
            guard let label = child.label, label.hasPrefix("_") else { return nil }
            let name = flagName(String(label.dropFirst()))
            guard !excluding.contains(name) else { return nil }
            if let option = child.value as? any ReflectedOption { return ConfigOption(name: name, kind: option.configKind) }
            if child.value is Flag<Bool> { return ConfigOption(name: name, kind: .boolean) }
            return nil
        }
    }

    /// The parsed command's values by key, as text (nil: an optional left unset).
    public static func values<Command: ParsableArguments>(of command: Command) -> [String: ConfigValue?] {
        var values: [String: ConfigValue?] = [:]
        for child in Mirror(reflecting: command).children {
            guard let label = child.label, label.hasPrefix("_") else { continue }
            let name = flagName(String(label.dropFirst()))
            if let option = child.value as? any ReflectedOption {
                values[name] = option.configValue
            } else if let flag = child.value as? Flag<Bool> {
                values[name] = .boolean(flag.wrappedValue)
            }
        }
        return values
    }

    /// `maxWaitsPerPeer` → `max-waits-per-peer`, as ArgumentParser names long options.
    static func flagName(_ property: String) -> String {
        var out = ""
        let scalars = Array(property.unicodeScalars)
        for (offset, scalar) in scalars.enumerated() {
            let isUpper = ("A"..."Z").contains(scalar)
            if isUpper && offset > 0 {
                let previousLower = !("A"..."Z").contains(scalars[offset - 1])
                let nextLower = offset + 1 < scalars.count && ("a"..."z").contains(scalars[offset + 1])
                if previousLower || nextLower { out += "-" }
            }
            out += String(scalar).lowercased()
        }
        return out
    }
}

/// An `@Option` of any value type, seen through a protocol so that its value type can be inspected.
protocol ReflectedOption {
    var configKind: ConfigKind { get }
    var configValue: ConfigValue? { get }
}

/// Optionals unwrapped generically (`String?` options).
private protocol AnyOptional {
    static var wrappedType: Any.Type { get }
    var wrapped: Any? { get }
}

extension Optional: AnyOptional {
    static var wrappedType: Any.Type { Wrapped.self }
    var wrapped: Any? { self.map { $0 as Any } }
}

extension Option: ReflectedOption {
    var configKind: ConfigKind {
        var type: Any.Type = Value.self
        if let optional = type as? any AnyOptional.Type { type = optional.wrappedType }
        if type is any BinaryInteger.Type { return .integer }
        if type is String.Type { return .string(choices: nil) }
        if let argument = type as? any ExpressibleByArgument.Type {
            let choices = argument.allValueStrings
            return .string(choices: choices.isEmpty ? nil : choices)
        }
        return .string(choices: nil)
    }

    var configValue: ConfigValue? {
        var value: Any = wrappedValue
        if let optional = value as? any AnyOptional {
            guard let wrapped = optional.wrapped else { return nil }
            value = wrapped
        }
        // A repeatable option is one string, its values separated by commas (as the file gives them).
        if let list = value as? [String] { return list.isEmpty ? nil : .string(list.joined(separator: ",")) }
        if let number = value as? any BinaryInteger { return .integer(Int64(truncatingIfNeeded: number)) }
        if let argument = value as? any ExpressibleByArgument { return .string(argument.defaultValueDescription) }
        return .string(String(describing: value))
    }
}
