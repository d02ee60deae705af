/// One committed write batch, as the writer saw it: what a metrics backend turns into the batch
/// size and commit latency histograms. The writer's cumulative counters are ``WriterStatistics``.
public struct CommitSample: Sendable, Equatable {
    /// Commands in the batch (accepted or rejected by the lifecycle).
    public var commands: Int
    /// Events the batch appended.
    public var transitions: Int
    /// From opening the write transaction to its commit returning: deciding and appending the
    /// batch, then the commit itself, which includes the fsync in `full` durability.
    public var duration: Duration

    public init(commands: Int, transitions: Int, duration: Duration) {
        self.commands = commands
        self.transitions = transitions
        self.duration = duration
    }
}

/// Called on the writer's thread after each successful commit: it must be quick and must not block
/// (record into a histogram, nothing more), since the next batch waits for it.
public typealias CommitObserver = @Sendable (CommitSample) -> Void

/// Told, on the waiter's thread, how long a waiter woken by a commit took to read the operation
/// again after the commit was announced (``LongrunEngine/observeWakeUps(_:)``): quick, no blocking.
public typealias WakeObserver = @Sendable (Duration) -> Void

/// An observer as a `Mutex` keeps it: in a struct, not as a bare closure. Swift passes a function
/// value `inout` through a generic (`Mutex.withLock`) reabstracted, and stores the thunk back, so
/// each access would add two thunks to every later call: with the metrics on, commits at 64
/// callers fell from 8,969 to 385 a second in 48 s (2026-12-07), and the chain ends in a stack
/// overflow. A struct keeps the closure as it was made.
struct ObserverSlot<Sample>: Sendable {
    let observe: @Sendable (Sample) -> Void
}
