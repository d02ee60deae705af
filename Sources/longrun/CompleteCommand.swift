import ArgumentParser
import LongrunCLIKit
import LongrunClient
import LongrunProto
import SwiftProtobuf

struct CompleteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "complete",
        abstract: "Complete a running operation with a response or an error.",
        discussion: """
            Give a response (--response, or --response-type with --response-bytes) or an error \
            (--error-code, by number or name such as CANCELLED or INTERNAL, with --error-message). \
            For a response without data use '{"@type":"type.googleapis.com/google.protobuf.Empty"}'.

            \(payloadDiscussion)
            """
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The operation's full name.")
    var name: String

    @Option(help: ArgumentHelp("The response: JSON, @FILE or - (stdin).", valueName: "json"))
    var response: String?

    @Option(help: ArgumentHelp("The response's type URL, with --response-bytes.", valueName: "url"))
    var responseType: String?

    @Option(help: ArgumentHelp("The response, serialized, in base64.", valueName: "base64"))
    var responseBytes: String?

    @Option(help: ArgumentHelp("Fail with this google.rpc.Code: a number or a name (CANCELLED, INTERNAL, ...).", valueName: "code"))
    var errorCode: String?

    @Option(help: ArgumentHelp("The error's message.", valueName: "text"))
    var errorMessage: String?

    func validate() throws {
        let hasResponse = response != nil || responseType != nil || responseBytes != nil
        if hasResponse && errorCode != nil {
            throw ValidationError("give either a response or --error-code, not both")
        }
        if !hasResponse && errorCode == nil {
            throw ValidationError("give a response (--response, or --response-type with --response-bytes) or --error-code")
        }
        if errorMessage != nil && errorCode == nil {
            throw ValidationError("--error-message needs --error-code")
        }
        if let errorCode { _ = try Self.parseCode(errorCode) }
        try validatePayload(name: "response", json: response, typeURL: responseType, base64: responseBytes)
    }

    static func parseCode(_ text: String) throws -> StatusCode {
        guard let code = StatusCode(parsing: text) else {
            throw ValidationError("--error-code: '\(text)' is not a code: give a number or a name such as CANCELLED, INTERNAL, NOT_FOUND")
        }
        if code == .ok { throw ValidationError("--error-code: an error's code must not be OK (0)") }
        return code
    }

    func run() async throws {
        let payload = try readPayload(name: "response", json: response, typeURL: responseType, base64: responseBytes)
        let code = try errorCode.map(Self.parseCode)
        try await global.run { client in
            let operation: Google_Longrunning_Operation
            if let payload {
                operation = try await client.completeOperation(name, response: payload)
            } else if let code {
                operation = try await client.completeOperation(name, error: Google_Rpc_Status.with {
                    $0.code = code.rawValue
                    $0.message = errorMessage ?? ""
                })
            } else {
                throw ValidationError("nothing to complete with")
            }
            Output.line(global.json ? JSONOutput.line(operation) : HumanOutput.operationBlock(operation))
            return ExitCodes.success
        }
    }
}
