import LongrunStore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A fresh directory under the system's temporary directory, removed with everything in it when
/// ``remove()`` is called or the body of ``withTemporaryDirectory(_:)`` returns.
public struct TemporaryDirectory: Sendable {
    public let path: String

    public init(prefix: String = "longrun-test") {
        var template = Array("/tmp/\(prefix)-XXXXXX".utf8CString)
        let result = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(result != nil, "mkdtemp failed: \(errno)")
        path = String(cString: result!)
    }

    /// A path inside the directory that does not exist yet.
    public func child(_ name: String) -> String { path + "/" + name }

    public func remove() {
        LongrunStore.removeTree(path)
    }

}

public func withTemporaryDirectory<R>(_ body: (TemporaryDirectory) async throws -> R) async rethrows -> R {
    let directory = TemporaryDirectory()
    defer { directory.remove() }
    return try await body(directory)
}
