import GRPCCore
@testable import LongrunClient
import Testing

@Suite("Status codes")
struct StatusCodeTests {
    @Test(arguments: [
        ("CANCELLED", 1), ("cancelled", 1), ("CANCELED", 1), ("INTERNAL", 13), ("not_found", 5), ("failed-precondition", 9),
        ("13", 13), ("0", 0), ("OK", 0), ("UNAUTHENTICATED", 16), ("42", 42), ("CODE_42", 42), (" ABORTED ", 10),
    ])
    func codesParse(_ text: String, _ expected: Int32) {
        #expect(StatusCode(parsing: text)?.rawValue == expected)
    }

    @Test(arguments: ["", "-1", "NOPE", "CANCELLED!", "1.5", "99999999999"])
    func badCodesDoNotParse(_ text: String) {
        #expect(StatusCode(parsing: text) == nil)
    }

    @Test func codesPrintByName() {
        #expect(StatusCode.notFound.description == "NOT_FOUND")
        #expect(StatusCode.internal.name == "INTERNAL")
        #expect(StatusCode(rawValue: 42).description == "CODE_42")
        #expect(StatusCode(rawValue: 42).name == nil)
        #expect(StatusCode(.failedPrecondition) == .failedPrecondition)
        for raw in Int32(0)...16 {
            #expect(StatusCode(parsing: StatusCode(rawValue: raw).description)?.rawValue == raw)
        }
    }
}
