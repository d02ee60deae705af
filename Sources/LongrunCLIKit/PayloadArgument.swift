import Foundation
import LongrunDefaults
import LongrunProto
package import SwiftProtobuf

/// The CLI's metadata and response arguments, turned into `google.protobuf.Any`.
///
/// - JSON with an `"@type"`: the protobuf JSON mapping of `Any`, for the well-known types and
///   Longrun's own (e.g. `{"@type":"type.googleapis.com/google.protobuf.StringValue","value":"x"}`);
/// - a plain JSON object, without `"@type"`: packed as a `google.protobuf.Struct`;
/// - raw: a type URL (a bare message name gets `type.googleapis.com/`) and the serialized
///   message in base64 (`--metadata-type`/`--metadata-bytes`).
///
/// JSON arguments may be `@path` (read the file) or `-` (read standard input).
package enum PayloadArgument {
    package struct ParseError: Error, Equatable, CustomStringConvertible {
        package var option: String
        package var problem: String
        package var description: String { "\(option): \(problem)" }
    }

    /// Where `@path` and `-` arguments are read from; replaceable in tests.
    package struct Sources: Sendable {
        package var readFile: @Sendable (String) throws -> String
        package var readStandardInput: @Sendable () throws -> String

        package init(
            readFile: @escaping @Sendable (String) throws -> String,
            readStandardInput: @escaping @Sendable () throws -> String
        ) {
            self.readFile = readFile
            self.readStandardInput = readStandardInput
        }

        package static let system = Sources(
            readFile: { path in
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                    throw FileProblem("no such file")
                }
                guard !isDirectory.boolValue else { throw FileProblem("it is a directory") }
                // A FileHandle, not FileManager.contents: it also reads pipes such as /dev/stdin or <(...).
                guard let handle = FileHandle(forReadingAtPath: path) else { throw FileProblem("cannot open it") }
                defer { try? handle.close() }
                let data: Data
                do {
                    data = try handle.readToEnd() ?? Data()
                } catch {
                    throw FileProblem("cannot read it")
                }
                guard let text = String(data: data, encoding: .utf8) else { throw FileProblem("not UTF-8 text") }
                return text
            },
            readStandardInput: {
                let data = FileHandle.standardInput.readDataToEndOfFile()
                return String(decoding: data, as: UTF8.self)
            }
        )
    }

    /// Why a file could not be read.
    package struct FileProblem: Error, CustomStringConvertible {
        package var description: String
        package init(_ description: String) { self.description = description }
    }

    /// Resolves the arguments of one payload (`--metadata` and `--metadata-type`/`--metadata-bytes`,
    /// say): nil when none is given. `name` is the option's name without dashes (`metadata`).
    package static func resolve(
        name: String, json: String?, typeURL: String?, base64: String?, sources: Sources = .system
    ) throws -> Google_Protobuf_Any? {
        switch (json, typeURL, base64) {
        case (nil, nil, nil):
            return nil
        case (let json?, nil, nil):
            let text = try load(json, option: "--\(name)", sources: sources)
            return try parseJSON(text, option: "--\(name)")
        case (nil, let typeURL?, let base64?):
            return try raw(typeURL: typeURL, base64: base64, option: "--\(name)-type/--\(name)-bytes")
        case (nil, _?, nil):
            throw ParseError(option: "--\(name)-type", problem: "needs --\(name)-bytes too")
        case (nil, nil, _?):
            throw ParseError(option: "--\(name)-bytes", problem: "needs --\(name)-type too")
        case (_?, _, _):
            throw ParseError(option: "--\(name)", problem: "give either JSON or --\(name)-type with --\(name)-bytes, not both")
        }
    }

    /// The text of a JSON argument: a literal, `@path` (a file) or `-` (standard input).
    package static func load(_ argument: String, option: String, sources: Sources) throws -> String {
        if argument == "-" {
            do {
                return try sources.readStandardInput()
            } catch {
                throw ParseError(option: option, problem: "cannot read standard input: \(describe(error))")
            }
        }
        if argument.hasPrefix("@") {
            let path = String(argument.dropFirst())
            guard !path.isEmpty else { throw ParseError(option: option, problem: "'@' needs a file path") }
            do {
                return try sources.readFile(path)
            } catch {
                throw ParseError(option: option, problem: "cannot read \(path): \(describe(error))")
            }
        }
        return argument
    }

    /// JSON with an `"@type"` (an `Any` in the protobuf JSON mapping) or a plain object (packed as
    /// a `google.protobuf.Struct`).
    package static func parseJSON(_ text: String, option: String) throws -> Google_Protobuf_Any {
        LongrunTypes.registerAll()
        let object: Google_Protobuf_Struct
        do {
            object = try Google_Protobuf_Struct(jsonString: text)
        } catch {
            let trimmed = text.trimmingWhitespace()
            if trimmed.isEmpty {
                throw ParseError(option: option, problem: "empty; expected a JSON object")
            }
            if !trimmed.hasPrefix("{") {
                throw ParseError(option: option, problem: """
                    expected a JSON object (a plain object becomes a google.protobuf.Struct; \
                    for other values use "@type", e.g. {"@type":"type.googleapis.com/google.protobuf.StringValue","value":"x"})
                    """)
            }
            throw ParseError(option: option, problem: "invalid JSON: \(describe(error))")
        }
        guard let type = object.fields["@type"] else {
            return try Google_Protobuf_Any(message: object)
        }
        guard case .stringValue(let typeURL) = type.kind, typeURL.contains("/") else {
            throw ParseError(option: option, problem: "\"@type\" must be a type URL such as type.googleapis.com/google.protobuf.Struct")
        }
        guard Google_Protobuf_Any.messageType(forTypeURL: typeURL) != nil else {
            throw ParseError(option: option, problem: """
                unknown type \(typeURL): JSON works for the well-known types (google.protobuf.*) and \
                Longrun's own; give other types with \(option)-type and \(option)-bytes (base64)
                """)
        }
        do {
            // Decode the Any, then transcode to binary: this checks the JSON against the type.
            let any = try Google_Protobuf_Any(jsonString: text)
            let bytes: [UInt8] = try any.serializedBytes()
            return try Google_Protobuf_Any(serializedBytes: bytes)
        } catch {
            throw ParseError(option: option, problem: "invalid JSON for \(typeURL): \(describe(error))")
        }
    }

    /// A raw payload: a type URL (or bare message name) and base64 bytes.
    package static func raw(typeURL: String, base64: String, option: String) throws -> Google_Protobuf_Any {
        let url = typeURL.trimmingWhitespace()
        guard !url.isEmpty else { throw ParseError(option: option, problem: "empty type URL") }
        guard let bytes = Data(base64Encoded: base64.trimmingWhitespace()) else {
            throw ParseError(option: option, problem: "the bytes are not valid base64")
        }
        return Google_Protobuf_Any.with {
            $0.typeURL = url.contains("/") ? url : "type.googleapis.com/" + url
            $0.value = bytes
        }
    }

    private static func describe(_ error: any Error) -> String {
        if let error = error as? CocoaError, error.code == .fileReadNoSuchFile { return "no such file" }
        return String(describing: error)
    }
}
