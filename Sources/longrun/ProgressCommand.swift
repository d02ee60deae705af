import ArgumentParser
import LongrunCLIKit
import LongrunClient
import LongrunProto
import SwiftProtobuf

struct ProgressCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "progress",
        abstract: "Report progress: replace a running operation's metadata.",
        discussion: """
            Prints the new version and whether cancellation was requested \
            (`version=3 cancel_requested=false`). Exit code 4 when cancellation was requested: \
            stop, and complete the operation (e.g. `longrun complete NAME --error-code CANCELLED`). \
            Without metadata options the current metadata is sent again (a liveness report; \
            it is read and re-sent at the version read, so a concurrent update is not undone); \
            --clear-metadata clears it.

            \(payloadDiscussion)
            """
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The operation's full name.")
    var name: String

    @Option(help: ArgumentHelp("The new metadata: JSON, @FILE or - (stdin).", valueName: "json"))
    var metadata: String?

    @Option(help: ArgumentHelp("The new metadata's type URL, with --metadata-bytes.", valueName: "url"))
    var metadataType: String?

    @Option(help: ArgumentHelp("The new metadata, serialized, in base64.", valueName: "base64"))
    var metadataBytes: String?

    @Flag(help: "Clear the metadata.")
    var clearMetadata = false

    @Option(help: ArgumentHelp("Apply only if the operation's version is this (else ABORTED).", valueName: "n"))
    var expectedVersion: UInt64?

    func validate() throws {
        if clearMetadata && (metadata != nil || metadataType != nil || metadataBytes != nil) {
            throw ValidationError("--clear-metadata excludes the other metadata options")
        }
        try validatePayload(name: "metadata", json: metadata, typeURL: metadataType, base64: metadataBytes)
    }

    func run() async throws {
        let payload = try readPayload(name: "metadata", json: metadata, typeURL: metadataType, base64: metadataBytes)
        try await global.run { client in
            let response = payload == nil && !clearMetadata
                ? try await client.resendMetadata(name, expectedVersion: expectedVersion)
                : try await client.updateOperation(name, metadata: payload, expectedVersion: expectedVersion)
            Output.line(global.json
                ? JSONOutput.line(response)
                : "version=\(response.version) cancel_requested=\(response.cancelRequested)")
            return response.cancelRequested ? ExitCodes.cancellationRequested : ExitCodes.success
        }
    }
}
