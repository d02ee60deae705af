public import Logging
public import LongrunDomain
public import LongrunEngine

/// Builders for the values tests use over and over.
public enum Fixtures {
    public static let producer = Actor(uid: 1000, pid: 4242, label: "producer")
    public static let consumer = Actor(uid: 1001, pid: 4343, label: "consumer")

    public static func payload(_ type: String, _ text: String = "") -> Payload {
        Payload(typeURL: "type.googleapis.com/" + type, value: Array(text.utf8))
    }

    public static func name(_ text: String) -> OperationName {
        try! OperationName(parsing: text)
    }

    /// A logger that drops everything below warnings, so test output stays readable.
    public static var quietLogger: Logger {
        var logger = Logger(label: "longrun.test")
        logger.logLevel = .warning
        return logger
    }

    public static func openEngine(
        _ directory: String, clock: ManualClock = ManualClock(), configure: (inout LongrunEngine.Configuration) -> Void = { _ in }
    ) throws -> LongrunEngine {
        var configuration = LongrunEngine.Configuration()
        configure(&configuration)
        return try LongrunEngine(directory: directory, configuration: configuration, clock: clock, logger: quietLogger)
    }
}
