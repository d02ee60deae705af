import LongrunDefaults

/// Duration options of the CLI (`--timeout`, `--grace`), read by the helper `longrund` uses too
/// (``DurationText``): `30s`, `1.5s`, `500ms`, `2m`, `1h`, `250us`.
package enum DurationOption {
    package struct ParseError: Error, Equatable, CustomStringConvertible {
        package var option: String
        package var text: String
        package var description: String {
            "\(option): invalid duration '\(text)' (a number and a unit: 30s, 1.5s, 500ms, 2m, 1h)"
        }
    }

    package static func parse(_ text: String, option: String) throws -> Duration {
        guard let duration = DurationText.parse(text.trimmingWhitespace()) else {
            throw ParseError(option: option, text: text)
        }
        return duration
    }
}
