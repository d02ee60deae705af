public import LongrunStore

#if canImport(Glibc)
public import Glibc
#endif

/// A one-line progress bar on standard error, redrawn at most ten times a second:
/// `replaying the log  [=========>          ]  48%  1.2M events/s  ETA 3s`.
/// Silent when standard error is not a terminal, so scripts and `--json` output stay clean.
public final class ProgressBar: @unchecked Sendable {
    private let enabled: Bool
    private let width: Int
    private var phase = ""
    private var phaseStart: Double = 0
    private var lastDraw: Double = 0
    private var drawn = false

    public init(enabled: Bool = isatty(STDERR_FILENO) == 1, width: Int = 30) {
        self.enabled = enabled
        self.width = width
    }

    /// Updates the bar; pass it as a ``StoreProgressHandler``.
    public func update(_ progress: StoreProgress) {
        guard enabled else { return }
        let now = Self.seconds()
        if progress.phase != phase {
            phase = progress.phase
            phaseStart = now
        }
        guard now - lastDraw >= 0.1 || progress.done >= progress.total else { return }
        lastDraw = now
        write("\r\u{1B}[K" + Self.render(progress, elapsed: now - phaseStart, width: width))
        drawn = true
    }

    /// Ends the bar's line, if one was drawn.
    public func finish() {
        guard enabled, drawn else { return }
        write("\n")
        drawn = false
    }

    /// The bar's text for `progress` after `elapsed` seconds in its phase.
    public static func render(_ progress: StoreProgress, elapsed: Double, width: Int) -> String {
        let fraction = progress.total == 0 ? 1 : min(1, Double(progress.done) / Double(progress.total))
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "=", count: filled) + (filled < width ? ">" + String(repeating: " ", count: width - filled - 1) : "")
        var text = "\(progress.phase)  [\(bar)]  \(Int(fraction * 100))%"
        if elapsed > 0 {
            let rate = Double(progress.done) / elapsed
            text += "  \(compact(rate)) events/s"
            if rate > 0, progress.done < progress.total {
                text += "  ETA \(Int((Double(progress.total - progress.done) / rate).rounded(.up)))s"
            }
        }
        return text
    }

    /// 950, 12.3K, 1.2M.
    public static func compact(_ value: Double) -> String {
        switch value {
        case ..<1000: return String(Int(value))
        case ..<1_000_000: return String(Int(value / 100)).insertingDecimal() + "K"
        default: return String(Int(value / 100_000)).insertingDecimal() + "M"
        }
    }

    private func write(_ text: String) {
        _ = text.withCString { Glibc.write(STDERR_FILENO, $0, strlen($0)) }
    }

    private static func seconds() -> Double {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
    }
}

extension String {
    /// "123" → "12.3": one decimal from a number scaled by ten.
    fileprivate func insertingDecimal() -> String {
        count < 2 ? "0." + self : String(dropLast()) + "." + String(last!)
    }
}
