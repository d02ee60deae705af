extension String {
    /// The string without leading and trailing whitespace (Unicode's definition), without
    /// Foundation: how the daemon's and the tools' arguments are read.
    package func trimmingWhitespace() -> String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
              let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })
        else { return "" }
        return String(scalars[first...last])
    }
}
