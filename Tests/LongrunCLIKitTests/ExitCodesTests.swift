import Foundation
@testable import LongrunCLIKit
import LongrunDomain
import LongrunProto
import LongrunProtoTestSupport
import SwiftProtobuf
import Testing

@Suite("Exit codes")
struct ExitCodesTests {
    @Test func exitCodesFollowTheResult() throws {
        #expect(ExitCodes.forOperation(operation("operations/x", done: true, response: try Google_Protobuf_Any(message: Google_Protobuf_Empty()))) == 0)
        #expect(ExitCodes.forOperation(operation("operations/x", done: true, error: status(.internal, "boom"))) == 1)
        #expect(ExitCodes.forOperation(operation("operations/x", done: true, error: status(.cancelled, "stop"))) == 2)
        #expect(ExitCodes.forOperation(operation("operations/x")) == 3)
        #expect(ExitCodes.forOperation(operation("operations/x", done: true)) == 1)
        #expect(ExitCodes.cancellationRequested == 4)
        #expect(ExitCodes.usage == 64)
        #expect(ExitCodes.unreachable == 6)
    }
}
