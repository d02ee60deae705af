import Foundation
@testable import LongrunCLIKit
import LongrunProto
import SwiftProtobuf
import Testing

@Suite("Payload arguments")
struct PayloadArgumentTests {
    static let noFiles = PayloadArgument.Sources(
        readFile: { path in throw CocoaError(.fileReadNoSuchFile, userInfo: [NSFilePathErrorKey: path]) },
        readStandardInput: { "" }
    )

    func resolve(json: String? = nil, type: String? = nil, bytes: String? = nil,
                 sources: PayloadArgument.Sources = noFiles) throws -> Google_Protobuf_Any? {
        try PayloadArgument.resolve(name: "metadata", json: json, typeURL: type, base64: bytes, sources: sources)
    }

    func problem(_ body: () throws -> Google_Protobuf_Any?) -> String? {
        do {
            _ = try body()
            return nil
        } catch {
            return (error as? PayloadArgument.ParseError)?.description ?? "unexpected \(error)"
        }
    }

    @Test func nothingGivenIsNil() throws {
        #expect(try resolve() == nil)
    }

    @Test func typedJSONForAWellKnownType() throws {
        let any = try #require(try resolve(json: #"{"@type":"type.googleapis.com/google.protobuf.StringValue","value":"x"}"#))
        #expect(any.typeURL == "type.googleapis.com/google.protobuf.StringValue")
        #expect(try Google_Protobuf_StringValue(unpackingAny: any).value == "x")
    }

    @Test func typedJSONForAStruct() throws {
        let any = try #require(try resolve(json: #"{"@type":"type.googleapis.com/google.protobuf.Struct","value":{"percent":42,"message":"compiling"}}"#))
        let object = try Google_Protobuf_Struct(unpackingAny: any)
        #expect(object.fields["percent"] == Google_Protobuf_Value(numberValue: 42))
        #expect(object.fields["message"] == Google_Protobuf_Value(stringValue: "compiling"))
    }

    @Test func typedJSONForLongrunsOwnTypes() throws {
        let any = try #require(try resolve(json: #"{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"DISK_FULL","domain":"acme"}"#))
        let info = try Google_Rpc_ErrorInfo(unpackingAny: any)
        #expect(info.reason == "DISK_FULL")
        #expect(info.domain == "acme")
    }

    @Test func plainObjectsBecomeStructs() throws {
        let any = try #require(try resolve(json: #"{"percent": 42.5, "tags": ["a"], "nested": {"ok": true}}"#))
        #expect(any.typeURL == "type.googleapis.com/google.protobuf.Struct")
        let object = try Google_Protobuf_Struct(unpackingAny: any)
        #expect(object.fields["percent"] == Google_Protobuf_Value(numberValue: 42.5))
        #expect(object.fields["tags"] == Google_Protobuf_Value(listValue: Google_Protobuf_ListValue(values: [Google_Protobuf_Value(stringValue: "a")])))
        #expect(object.fields["nested"]?.structValue.fields["ok"] == Google_Protobuf_Value(boolValue: true))
    }

    @Test func rawTypeAndBase64() throws {
        let bytes: [UInt8] = try Google_Protobuf_StringValue(stringLiteral: "hello").serializedBytes()
        let any = try #require(try resolve(type: "type.googleapis.com/acme.v1.Build", bytes: Data(bytes).base64EncodedString()))
        #expect(any.typeURL == "type.googleapis.com/acme.v1.Build")
        #expect(Array(any.value) == bytes)
    }

    @Test func rawBareMessageNameGetsTheDefaultPrefix() throws {
        let any = try #require(try resolve(type: "acme.v1.Build", bytes: ""))
        #expect(any.typeURL == "type.googleapis.com/acme.v1.Build")
        #expect(any.value.isEmpty)
    }

    @Test func atPathReadsAFile() throws {
        let sources = PayloadArgument.Sources(
            readFile: { path in
                #expect(path == "/tmp/meta.json")
                return #"{"message":"from a file"}"#
            },
            readStandardInput: { Issue.record("stdin read"); return "" }
        )
        let any = try #require(try resolve(json: "@/tmp/meta.json", sources: sources))
        #expect(try Google_Protobuf_Struct(unpackingAny: any).fields["message"] == Google_Protobuf_Value(stringValue: "from a file"))
    }

    @Test func atPathReadsARealFile() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("longrun-payload-\(UInt32.random(in: 0...UInt32.max)).json").path
        try #"{"@type":"type.googleapis.com/google.protobuf.Int64Value","value":"7"}"#.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let any = try #require(try PayloadArgument.resolve(name: "response", json: "@" + path, typeURL: nil, base64: nil))
        #expect(try Google_Protobuf_Int64Value(unpackingAny: any).value == 7)
    }

    @Test func dashReadsStandardInput() throws {
        let sources = PayloadArgument.Sources(readFile: { _ in "" }, readStandardInput: { #"{"n": 1}"# })
        let any = try #require(try resolve(json: "-", sources: sources))
        #expect(try Google_Protobuf_Struct(unpackingAny: any).fields["n"] == Google_Protobuf_Value(numberValue: 1))
    }

    @Test func aMissingFileIsReported() {
        #expect(problem { try resolve(json: "@/nope/meta.json") } == "--metadata: cannot read /nope/meta.json: no such file")
    }

    @Test func aMissingRealFileIsReported() {
        let message = problem { try PayloadArgument.resolve(name: "metadata", json: "@/nonexistent/longrun.json", typeURL: nil, base64: nil) }
        #expect(message == "--metadata: cannot read /nonexistent/longrun.json: no such file")
    }

    @Test func invalidJSONIsReported() {
        #expect(problem { try resolve(json: "{not json") }?.hasPrefix("--metadata: invalid JSON") == true)
    }

    @Test func nonObjectsAreRefusedWithAHint() {
        for text in ["[1, 2]", "\"text\"", "42"] {
            let message = problem { try resolve(json: text) }
            #expect(message?.hasPrefix("--metadata: expected a JSON object") == true, "\(text)")
            #expect(message?.contains("google.protobuf.StringValue") == true)
        }
        #expect(problem { try resolve(json: "  ") } == "--metadata: empty; expected a JSON object")
    }

    @Test func unknownTypesPointToTheRawForm() {
        let message = problem { try resolve(json: #"{"@type":"type.googleapis.com/acme.v1.Build","id":1}"#) }
        #expect(message?.contains("unknown type type.googleapis.com/acme.v1.Build") == true)
        #expect(message?.contains("--metadata-type and --metadata-bytes") == true)
    }

    @Test func typedJSONMustMatchItsType() {
        let message = problem { try resolve(json: #"{"@type":"type.googleapis.com/google.rpc.ErrorInfo","nope":1}"#) }
        #expect(message?.hasPrefix("--metadata: invalid JSON for type.googleapis.com/google.rpc.ErrorInfo") == true)
    }

    @Test func typeMustBeAURL() {
        #expect(problem { try resolve(json: #"{"@type": 5}"#) }?.contains("\"@type\" must be a type URL") == true)
        #expect(problem { try resolve(json: #"{"@type": "google.protobuf.Struct"}"#) }?.contains("\"@type\" must be a type URL") == true)
    }

    @Test func rawNeedsBothHalves() {
        #expect(problem { try resolve(type: "acme.v1.Build") } == "--metadata-type: needs --metadata-bytes too")
        #expect(problem { try resolve(bytes: "AAAA") } == "--metadata-bytes: needs --metadata-type too")
    }

    @Test func jsonAndRawExcludeEachOther() {
        #expect(problem { try resolve(json: "{}", type: "acme.v1.Build", bytes: "") }?.contains("not both") == true)
    }

    @Test func badBase64IsReported() {
        #expect(problem { try resolve(type: "acme.v1.Build", bytes: "***") } == "--metadata-type/--metadata-bytes: the bytes are not valid base64")
    }
}
