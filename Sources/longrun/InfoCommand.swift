import ArgumentParser
import LongrunCLIKit
import LongrunClient
import LongrunProto
import SwiftProtobuf

struct InfoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "info", abstract: "Show the daemon's version, data directory and durability.")

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await global.run { client in
            let info = try await client.serverInfo()
            if global.json {
                Output.line(JSONOutput.line(plain: info))
            } else {
                Output.line("""
                    version:           \(info.version)
                    data directory:    \(info.dataDirectory)
                    applied sequence:  \(info.appliedSequence)
                    durability:        \(info.durability)
                    socket:            \(global.socketPath)
                    integrity:         \(IntegrityText.summary(info.integrity))
                    """)
                for finding in info.integrity.findings { Output.line("  " + IntegrityText.line(finding)) }
            }
            return ExitCodes.success
        }
    }
}
