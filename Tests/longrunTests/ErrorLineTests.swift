import LongrunCLIKit
import LongrunClient
@testable import longrun
import LongrunProto
import SwiftProtobuf
import Testing

@Suite("Error lines")
struct ErrorLineTests {
    @Test func unreachableMeansTheDaemonNotTheOperation() {
        #expect(ExitCodes.isUnreachable(SocketMissing(path: "/s")))
        #expect(ExitCodes.isUnreachable(LongrunClientError(code: .unavailable, message: "Stream unexpectedly closed.")))
        #expect(!ExitCodes.isUnreachable(LongrunClientError(code: .internal, message: "boom")))
        #expect(!ExitCodes.isUnreachable(LongrunClientError(code: .notFound, message: "no such operation")))
        #expect(!ExitCodes.isUnreachable(CancellationError()))
    }

    @Test func connectionFailuresNameTheSocketAndWhy() {
        let refused = LongrunClientError(code: .unavailable, message: "Could not establish a connection to the remote peer.")
        func line(_ error: any Error, _ state: SocketState) -> String {
            ErrorLine.message(for: error, socketPath: "/run/x.sock", probe: { path in
                #expect(path == "/run/x.sock")
                return state
            })
        }
        let notRunning = "cannot connect to /run/x.sock: no such socket; longrund is not running on it"
        #expect(line(refused, .missing).hasPrefix(notRunning))
        #expect(line(SocketMissing(path: "/run/x.sock"), .missing).hasPrefix(notRunning))
        #expect(line(refused, .missing).contains("start it with `longrund --socket /run/x.sock`"))
        #expect(ErrorLine.message(for: refused, socketPath: "/run/longrun/longrund.sock", probe: { _ in .missing })
            .contains("start it with `systemctl start longrund.socket`"))
        #expect(line(refused, .refused).hasPrefix("cannot connect to /run/x.sock: nothing listens on it (a stale socket); longrund is not running on it"))
        let denied = line(refused, .permissionDenied(group: "longrun"))
        #expect(denied.hasPrefix("cannot connect to /run/x.sock: permission denied; your user is not in the socket's group longrun"))
        #expect(denied.contains("usermod -aG longrun $USER") && denied.contains("log in again"))
        #expect(!denied.contains("not running"))
        #expect(line(SocketMissing(path: "/run/x.sock"), .permissionDenied(group: nil)) == "cannot connect to /run/x.sock: permission denied on a directory on the way to the socket")
        // Something accepts connections: the RPC's own error is the better description.
        #expect(line(refused, .accepting) == "UNAVAILABLE: Could not establish a connection to the remote peer.")
        // The connection broke during a call: whether the daemon is still there.
        let closed = LongrunClientError(code: .unavailable, message: "Stream unexpectedly closed.")
        #expect(line(closed, .refused).hasPrefix("lost the connection to longrund (UNAVAILABLE: Stream unexpectedly closed.); now cannot connect to /run/x.sock: nothing listens on it"))
        let shuttingDown = LongrunClientError(code: .unavailable, message: "server is shutting down")
        #expect(line(shuttingDown, .accepting) == "UNAVAILABLE: server is shutting down")
    }

    @Test func rpcErrorsPrintAsOneLine() {
        let error = LongrunClientError(code: .notFound, message: "operation operations/x does not exist",
                                       errorInfo: .with { $0.reason = "OPERATION_NOT_FOUND" })
        #expect(ErrorLine.message(for: error, socketPath: "/s") == "NOT_FOUND: operation operations/x does not exist (OPERATION_NOT_FOUND)")
    }
}
