extension Duration {
    /// The duration in seconds, for rates and for printing.
    package var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }

    package var microseconds: Int64 { components.seconds * 1_000_000 + components.attoseconds / 1_000_000_000_000 }

    package var nanoseconds: Int64 { components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000 }
}
