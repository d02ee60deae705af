import Foundation

/// How many seeded random inputs a fuzz-property test runs, and from which seed:
/// LONGRUN_FUZZ_ITERATIONS (default 20000) inputs per test, from LONGRUN_FUZZ_SEED (default fixed,
/// so CI is reproducible; every failure names the seed to rerun with).
public enum FuzzRun {
    public static let environment = ProcessInfo.processInfo.environment
    public static let iterations = environment["LONGRUN_FUZZ_ITERATIONS"].flatMap(Int.init) ?? 20_000
    public static let seed: UInt64 = environment["LONGRUN_FUZZ_SEED"].flatMap { UInt64($0) } ?? 0x10_46_2026

    /// Runs `body` `iterations` times with one generator per test, derived from the seed and the test's salt.
    public static func run(_ salt: UInt64, _ body: (inout SplitMix64) throws -> Void) rethrows {
        var random = SplitMix64(seed: seed ^ salt)
        for _ in 0..<iterations { try body(&random) }
    }

    public static var reproduce: String { "reproduce with LONGRUN_FUZZ_SEED=\(seed)" }
}
