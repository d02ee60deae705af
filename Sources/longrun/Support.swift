import ArgumentParser
import Foundation
import LongrunCLIKit
import LongrunClient
import LongrunDefaults
import LongrunProto
import SwiftProtobuf

/// Options every subcommand takes.
struct GlobalOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "The daemon's Unix socket.",
        discussion: """
            Default: $LONGRUN_SOCKET, else \(DefaultPaths.current.socketPath), or \(DefaultPaths.systemSocketPath) \
            (the system daemon's) when only that one exists.
            """,
        valueName: "path"
    ))
    var socket: String?

    @Flag(help: "Print one JSON object per line (protobuf JSON mapping) per operation or event.")
    var json = false

    @Option(help: ArgumentHelp(
        "A label recorded as the actor of the events this call causes (default: $LONGRUN_ACTOR).",
        valueName: "label"
    ))
    var actor: String?

    var socketPath: String { socket ?? DefaultPaths.currentClientSocketPath }

    var actorLabel: String? { actor ?? ProcessInfo.processInfo.environment["LONGRUN_ACTOR"] }

    /// Connects, runs `body`, and turns its errors into one line on stderr and exit code 1
    /// (`unreachableCode` instead, when given, if the daemon could not be reached or stopped
    /// answering). `body` returns the exit code.
    ///
    /// With a `reconnect` policy, a daemon that answered once (as `liveness` records) and then
    /// became unreachable is waited for: `body` runs again on a new connection, after the
    /// policy's backoff, until the policy gives up. `body` must resume where it left off.
    func run(
        unreachableCode: Int32? = nil,
        reconnect: ReconnectPolicy? = nil,
        liveness: Liveness = Liveness(),
        _ body: (LongrunClient) async throws -> Int32
    ) async throws {
        LongrunTypes.registerAll()
        let path = socketPath
        var policy = reconnect
        // Each outage is announced once: after the daemon's last answer before it.
        var announcedAfter: ContinuousClock.Instant?
        while true {
            let code: Int32
            do {
                guard socketExists(at: path) else { throw SocketMissing(path: path) }
                code = try await withLongrunClient(socketPath: path, actor: actorLabel) { client in
                    try await body(client)
                }
            } catch let exit as ExitCode {
                throw exit
            } catch {
                if ExitCodes.isUnreachable(error), var current = policy,
                   let delay = current.delayAfterFailure(now: .now, lastAnswer: liveness.lastAnswer) {
                    policy = current
                    if liveness.lastAnswer != announcedAfter {
                        announcedAfter = liveness.lastAnswer
                        Output.error("\(ErrorLine.message(for: error, socketPath: path)); reconnecting for up to \(DurationText.format(current.retryFor))")
                    }
                    try await Task.sleep(for: delay)
                    continue
                }
                Output.error(ErrorLine.message(for: error, socketPath: path))
                if let unreachableCode, ExitCodes.isUnreachable(error) { throw ExitCode(unreachableCode) }
                throw ExitCode(ExitCodes.failure)
            }
            if code != ExitCodes.success { throw ExitCode(code) }
            return
        }
    }
}

/// Unbuffered output, so `watch` lines reach a pipe at once and stdout and stderr stay in order.
enum Output {
    /// A line on stdout. If stdout is gone (a closed pipe, as with `longrun history X | head`),
    /// exits at once with 141, the status of a process killed by SIGPIPE (which Swift ignores).
    static func line(_ text: String) {
        do {
            try FileHandle.standardOutput.write(contentsOf: Data((text + "\n").utf8))
        } catch {
            exit(141)
        }
    }

    static func note(_ text: String, newline: Bool = true) {
        try? FileHandle.standardError.write(contentsOf: Data((text + (newline ? "\n" : "")).utf8))
    }

    static func error(_ text: String) {
        note("longrun: " + text)
    }

    static var stderrIsTerminal: Bool { isatty(STDERR_FILENO) != 0 }
}

/// A duration option's value (see ``DurationOption``).
func parseDuration(_ text: String?, option: String) throws -> Duration? {
    guard let text else { return nil }
    do {
        return try DurationOption.parse(text, option: option)
    } catch {
        throw ValidationError("\(error)")
    }
}

/// Checks a payload's arguments in `validate()`, without reading `@file` or `-` (that is done
/// once, by ``readPayload(name:json:typeURL:base64:)`` in `run()`).
func validatePayload(name: String, json: String?, typeURL: String?, base64: String?) throws {
    let literal = json.flatMap { $0 == "-" || $0.hasPrefix("@") ? "{}" : $0 }
    do {
        _ = try PayloadArgument.resolve(name: name, json: literal, typeURL: typeURL, base64: base64)
    } catch {
        throw ValidationError("\(error)")
    }
}

/// A payload given as JSON (`--NAME`, `@file`, `-`) or raw (`--NAME-type`/`--NAME-bytes`); a
/// problem is reported as one line and exit code 64, like a usage error.
func readPayload(name: String, json: String?, typeURL: String?, base64: String?) throws -> Google_Protobuf_Any? {
    do {
        return try PayloadArgument.resolve(name: name, json: json, typeURL: typeURL, base64: base64)
    } catch {
        Output.error("\(error)")
        throw ExitCode(ExitCodes.usage)
    }
}

extension Google_Protobuf_Timestamp {
    static var now: Google_Protobuf_Timestamp { Google_Protobuf_Timestamp(date: Date()) }
}

let payloadDiscussion = """
    Metadata and responses (--metadata, --response) are JSON, or @FILE to read it from a file, \
    or - to read it from standard input:
      - with "@type": the protobuf JSON mapping of google.protobuf.Any, for the well-known types \
    and Longrun's own, e.g. '{"@type":"type.googleapis.com/google.protobuf.StringValue","value":"x"}';
      - a plain JSON object without "@type" is packed as a google.protobuf.Struct, e.g. \
    '{"percent":42,"message":"compiling"}' (the progress line of `longrun wait` shows percent, \
    or progress, and message);
      - any other type: --metadata-type URL --metadata-bytes BASE64 (the serialized message), \
    and the same for --response.
    """
