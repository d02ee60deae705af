import Foundation
import GRPCCore
import NIOCore
import NIOHPACK

/// gRPC over HTTP/2 as both of the server's paths write it (PROTOCOL-HTTP2.md): response headers,
/// length-prefixed messages, status trailers. One place, so that a call answered on the event
/// loop (``UnaryFastPath``) and one answered through grpc-swift's router (``GRPCStreamCodec``)
/// reach the client byte for byte alike.
enum GRPCFraming {
    /// The one content type the server answers with; requests may also say `application/grpc+proto`.
    static let contentType = "application/grpc"

    /// True for the content types of a gRPC request in protobuf, the only encoding served.
    static func isGRPC(contentType: String?) -> Bool {
        contentType == "application/grpc" || contentType == "application/grpc+proto"
    }

    /// The response's first HEADERS: `:status 200`, the content type, and the handler's metadata.
    static func responseHeaders(_ metadata: Metadata) -> HPACKHeaders {
        var headers: HPACKHeaders = [":status": "200", "content-type": contentType]
        add(metadata, to: &headers)
        return headers
    }

    /// The status trailers; `trailersOnly` when no headers were sent before them (then they carry
    /// `:status` and the content type too, in the stream's one HEADERS frame).
    static func trailers(code: Int, message: String, metadata: Metadata, trailersOnly: Bool) -> HPACKHeaders {
        var trailers: HPACKHeaders = trailersOnly ? [":status": "200", "content-type": contentType] : [:]
        trailers.add(name: "grpc-status", value: String(code))
        if !message.isEmpty {
            trailers.add(name: "grpc-message", value: percentEncoded(message))
        }
        add(metadata, to: &trailers)
        return trailers
    }

    /// One message with its 5-byte prefix (not compressed, big-endian length).
    static func frame(_ message: ByteBuffer, allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 5 + message.readableBytes)
        buffer.writeInteger(UInt8(0))
        buffer.writeInteger(UInt32(message.readableBytes))
        buffer.writeImmutableBuffer(message)
        return buffer
    }

    /// The request's headers as grpc-swift's handlers see them: every field, `-bin` values decoded
    /// from base64 (padded or not; a value that is not base64 stays a string, as grpc-swift keeps it).
    static func metadata(_ headers: HPACKHeaders) -> Metadata {
        var metadata = Metadata()
        metadata.reserveCapacity(headers.count)
        for header in headers {
            if header.name.hasSuffix("-bin"), let bytes = decodeBase64(header.value) {
                metadata.addBinary(bytes, forKey: header.name)
            } else {
                metadata.addString(header.value, forKey: header.name)
            }
        }
        return metadata
    }

    private static func add(_ metadata: Metadata, to headers: inout HPACKHeaders) {
        for (key, value) in metadata {
            switch value {
            case .string(let text): headers.add(name: key.lowercased(), value: text)
            case .binary(let bytes): headers.add(name: key.lowercased(), value: Data(bytes).base64EncodedString())
            }
        }
    }

    private static func decodeBase64(_ text: String) -> [UInt8]? {
        var padded = text
        if padded.utf8.count % 4 != 0 {
            padded += String(repeating: "=", count: 4 - padded.utf8.count % 4)
        }
        return Data(base64Encoded: padded).map { [UInt8]($0) }
    }

    /// gRPC's percent-encoding of `grpc-message`: every byte outside 0x20–0x7E, and `%`, as `%XX`.
    static func percentEncoded(_ message: String) -> String {
        guard message.utf8.contains(where: { $0 < 0x20 || $0 > 0x7E || $0 == UInt8(ascii: "%") }) else { return message }
        let hex = Array("0123456789ABCDEF".utf8)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(message.utf8.count * 3)
        for byte in message.utf8 {
            if byte < 0x20 || byte > 0x7E || byte == UInt8(ascii: "%") {
                bytes += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]]
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
