import ArgumentParser
import LongrundConfig
import LongrunDefaults

#if canImport(Glibc)
import Glibc
#endif

/// The config file and `LONGRUND_*` variables, layered under the flags before `run()` sees them:
/// they become arguments, so every value is checked exactly as its flag is, and errors about
/// them name the file and line or the variable.
extension Longrund {
    /// Not options to set from a file: which file, and printing it.
    static let configOnlyFlags: Set<String> = ["config", "print-config"]

    /// Older variables, read after `LONGRUND_DATA_DIR` and `LONGRUND_SOCKET` (clients share them).
    static let environmentAliases = ["data-dir": ["LONGRUN_DATA_DIR"], "socket": ["LONGRUN_SOCKET"]]

    /// sysexits' EX_CONFIG: a configuration mistake that restarting will not fix.
    static let configErrorStatus: Int32 = 78

    /// Parses `arguments` as `longrund`'s. `--help` parses to ArgumentParser's own help command,
    /// whose `run()` throws the clean exit that prints the help: run it, so that the caller's
    /// `exit(withError:)` prints it (taking any other command for "nothing to say" printed nothing).
    static func parseLongrund(_ arguments: [String]) throws -> Longrund {
        var parsed = try parseAsRoot(arguments)
        if let command = parsed as? Longrund { return command }
        try parsed.run()
        throw ExitCode.success
    }

    static func main() async {
        let commandLine = Array(CommandLine.arguments.dropFirst())
        // The command line alone first: --help, --version and usage errors answer without a file.
        let given: Longrund
        do {
            given = try parseLongrund(commandLine)
        } catch {
            exit(withError: error)
        }
        let environment = ProcessEnvironment.current
        let options = OptionReflection.options(of: Longrund.self, excluding: configOnlyFlags)
        let location = ConfigFileLocation.resolve(
            given: given.config, uid: getuid(), environment: { environment[$0] }, fileExists: ConfigFileLocation.exists)
        let layered: LayeredConfiguration
        do {
            var file: (path: String, entries: [ConfigEntry])?
            if let location {
                file = (location.path, try FlatTOML.parse(try ConfigFileLocation.read(location.path), path: location.path))
            }
            layered = try LayeredConfiguration.resolve(
                options: options, commandLine: commandLine, file: file, environment: environment,
                prefix: "LONGRUND_", aliases: environmentAliases)
        } catch {
            fail("\(error)")
        }
        var command: Longrund
        do {
            command = try parseLongrund(layered.arguments)
        } catch {
            exitAttributing(error, layered)
        }
        if command.printConfig {
            var values = OptionReflection.values(of: command)
            let defaults = DefaultPaths.current
            values["data-dir"] = .string(command.dataDir ?? defaults.dataDirectory)
            values["socket"] = .string(command.socket ?? defaults.socketPath)
            values["http-socket"] = .string(
                Self.httpSocketPath(command.httpSocket, grpcSocket: command.socket ?? defaults.socketPath, socketActivated: false) ?? "none")
            print(EffectiveConfiguration.render(options: options, values: values, sources: layered.sources, file: location?.path), terminator: "")
            return
        }
        do {
            try await command.run()
        } catch {
            exitAttributing(error, layered)
        }
    }

    /// An error about an option set in the file or environment names that source (EX_CONFIG);
    /// any other error exits as ArgumentParser would.
    private static func exitAttributing(_ error: any Error, _ layered: LayeredConfiguration) -> Never {
        let message = message(for: error)
        let attributed = layered.attribute(message)
        if attributed != message { fail(attributed) }
        exit(withError: error)
    }

    private static func fail(_ message: String) -> Never {
        let line = "longrund: \(message)\n"
        _ = line.withCString { write(STDERR_FILENO, $0, strlen($0)) }
        Glibc.exit(configErrorStatus)
    }
}
