/// `--print-config`: the effective configuration as a config file, each value with its source,
/// so that an operator sees what the daemon would run with and why.
public enum EffectiveConfiguration {
    /// - Parameters:
    ///   - values: each option's effective value (nil: unset), by key.
    ///   - sources: where each came from.
    ///   - file: the config file read, if any.
    public static func render(
        options: [ConfigOption],
        values: [String: ConfigValue?],
        sources: [String: ConfigSource],
        file: String?
    ) -> String {
        var lines = ["# longrund effective configuration; config file: \(file ?? "none")"]
        for option in options {
            let source = sources[option.name] ?? .defaultValue
            if let value = values[option.name] ?? nil {
                lines.append("\(option.name) = \(value)  # \(source)")
            } else {
                lines.append("# \(option.name) is not set  # \(source)")
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
