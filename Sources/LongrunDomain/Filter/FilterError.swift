/// Why a filter text was rejected. ``message`` is meant for the caller of `ListOperations`
/// (it already names the column); ``column`` is the 1-based character column where the problem starts.
public struct FilterError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public var column: Int

    public init(message: String, column: Int) {
        self.message = message
        self.column = column
    }

    public var description: String { message }
}
